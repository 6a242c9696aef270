// obox against Debian's own Dovecot (dovecot-core, installed by scripts/test.sh
// and never started): doveconf parses the stack's whole Dovecot config with
// conf.d/90-obox.conf included as dovecot.conf will include it, and the
// push's checks, exactly as pushed, refuse this Dovecot with the message that
// it has no obox. Nothing on this machine changes: the temp config is
// bind-mounted over /etc/dovecot inside a private mount namespace, as the push
// runner does with staged files, and the runner's reload is a harmless echo.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DOVECOT_MODULE_DIR,
  OBOX_CHECKS,
  OBOX_MISSING,
  oboxMissing,
  oboxPush,
} from "../../../src/concerns/dovecot/obox";
import {
  DOVECOT_FRAGMENTS,
  renderDovecotConf,
  renderDovecotFragment,
} from "../../../src/concerns/dovecot/render-dovecot";
import {
  OBOX_FRAGMENT,
  OBOX_INCLUDE,
  oboxUrlEscape,
  renderOboxConf,
} from "../../../src/concerns/dovecot/render-obox";
import { renderPayload } from "../../../src/core/push";
import { ROOT } from "../../../src/core/template";
import { dovecotSettings, OBOX_KEY, OBOX_SETTINGS } from "../../helpers/obox-fixtures";

const SETTINGS = OBOX_SETTINGS;
const KEY = OBOX_KEY;
const RUNNER = fs.readFileSync(path.join(ROOT, "files/push/runner.sh"), "utf8");
const QUOTA_INCLUDE = "!include conf.d/90-quota.conf\n";

let tmp: string;

/** A config dir like /etc/dovecot: the stack's dovecot.conf and fragments, with the obox include or not. */
function confDir(name: string, opts: { wired: boolean; fragment: boolean }): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "conf.d"), { recursive: true });
  // doveconf reads the certificate and key (ssl_cert = <file); it does not parse them.
  for (const f of ["cert.pem", "key.pem"]) fs.writeFileSync(path.join(tmp, f), "not checked by doveconf\n");
  const args = {
    certPath: path.join(tmp, "cert.pem"),
    keyPath: path.join(tmp, "key.pem"),
    postmaster: "postmaster@example.test",
  };
  const conf = renderDovecotConf();
  // In obox mode dovecot.conf includes the fragment right after the quota one.
  expect(renderDovecotConf(undefined, true)).toContain(`${QUOTA_INCLUDE}${OBOX_INCLUDE}\n`);
  fs.writeFileSync(path.join(dir, "dovecot.conf"), opts.wired ? renderDovecotConf(undefined, true) : conf);
  for (const f of DOVECOT_FRAGMENTS) {
    fs.writeFileSync(path.join(dir, "conf.d", f), renderDovecotFragment(f, args));
  }
  if (opts.fragment) fs.writeFileSync(path.join(dir, "conf.d", OBOX_FRAGMENT), renderOboxConf(SETTINGS, KEY));
  return dir;
}

function run(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

type Binds = readonly (readonly [string, string])[];

/** `command` in a private mount namespace with each [source, target] bind-mounted, as the runner composes it. */
function isolated(binds: Binds, command: string, opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const mounts = binds.map(([s, t]) => `mount --bind ${s} ${t} && `).join("");
  return run("unshare", ["--mount", "--propagation", "private", "bash", "-c", `${mounts}${command}`], opts);
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the doveconf test must run as root (it bind-mounts)");
  if (!fs.existsSync("/usr/bin/doveconf")) {
    throw new Error("doveconf is missing: install dovecot-core (scripts/test.sh does, without starting it)");
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "obox-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("obox on Debian's Dovecot", () => {
  it("doveconf parses the whole config with the fragment, without a warning, and obox takes over", () => {
    const dir = confDir("wired", { wired: true, fragment: true });
    const r = run("doveconf", ["-c", path.join(dir, "dovecot.conf"), "-n"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const s = dovecotSettings(r.out);
    // doveconf does not know the obox driver, nor its plugin's settings, and accepts both.
    expect(s.get("mail_location")).toBe("obox:%8Mu/%u:INDEX=~/:CONTROL=~/");
    // Every protocol loads obox: the fragment comes before 90-sieve.conf's sections.
    expect(s.get("mail_plugins")).toBe('" quota obox"');
    expect(s.get("protocol lmtp/mail_plugins")).toBe('" quota obox sieve"');
    expect(s.get("protocol imap/mail_plugins")).toBe('" quota obox imap_sieve"');
    expect(s.get("plugin/quota")).toBe("count:User quota");
    expect(s.get("plugin/quota_vsizes")).toBe("yes");
    // doveconf -n hides a URL's credentials, so its output may reach a log.
    expect(s.get("plugin/obox_index_fs")).toBe(
      "compress:gz:6:s3:https://#hidden_use-P_to_show#@s3.example.test:9000/?bucket=mail-example-test" +
        "&region=eu-central-1&loghdr=x-amz-request-id&loghdr=x-amz-id-2",
    );
    expect(s.get("plugin/obox_fs")).toMatch(
      /^fscache:1G:\/var\/cache\/mails:compress:gz:6:s3:https:\/\/#hidden/,
    );
    expect(r.out).not.toContain(oboxUrlEscape(KEY.secretAccessKey));
  });

  it("keeps the escaped key exactly as rendered (doveconf -P shows it)", () => {
    const dir = confDir("shown", { wired: true, fragment: true });
    const r = run("doveconf", ["-c", path.join(dir, "dovecot.conf"), "-P"]);
    expect(r.code).toBe(0);
    const rendered = dovecotSettings(renderOboxConf(SETTINGS, KEY));
    const parsed = dovecotSettings(r.out);
    expect(parsed.get("plugin/obox_fs")).toBe(rendered.get("plugin/obox_fs"));
    expect(parsed.get("plugin/obox_index_fs")).toBe(rendered.get("plugin/obox_index_fs"));
    expect(parsed.get("plugin/obox_fs")).toContain(`:${oboxUrlEscape(KEY.secretAccessKey)}@`);
  });

  it("without the include in dovecot.conf the fragment takes no part", () => {
    const dir = confDir("unwired", { wired: false, fragment: true });
    const r = run("doveconf", ["-c", path.join(dir, "dovecot.conf"), "-h", "mail_location"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe("maildir:~/Maildir");
  });

  it("the plugin check looks where Debian's Dovecot loads plugins from, and fails here with the clear message", () => {
    const dir = confDir("plugin", { wired: true, fragment: true });
    const dirOf = run("doveconf", ["-c", path.join(dir, "dovecot.conf"), "-h", "mail_plugin_dir"]);
    expect(dirOf.out.trim()).toBe(DOVECOT_MODULE_DIR);
    // Debian's plugins are there, named as the check expects; obox is not among them.
    expect(fs.readdirSync(DOVECOT_MODULE_DIR)).toContain("lib10_quota_plugin.so");
    const [pluginCheck] = OBOX_CHECKS;
    const r = isolated([[dir, "/etc/dovecot"]], pluginCheck);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${OBOX_MISSING}\n`);
    // With a Dovecot Pro module dir it passes.
    const pro = path.join(tmp, "pro-modules");
    fs.mkdirSync(pro, { recursive: true });
    fs.writeFileSync(path.join(pro, "lib20_obox_plugin.so"), "");
    const ok = isolated([[pro, DOVECOT_MODULE_DIR]], pluginCheck);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    // It looks in the dir doveconf names, and names that dir when the plugin is missing.
    const moved = confDir("plugin-moved", { wired: true, fragment: true });
    fs.appendFileSync(path.join(moved, "dovecot.conf"), `mail_plugin_dir = ${pro}\n`);
    expect(isolated([[moved, "/etc/dovecot"]], pluginCheck).code).toBe(0);
    fs.appendFileSync(path.join(moved, "dovecot.conf"), `mail_plugin_dir = ${tmp}\n`);
    expect(isolated([[moved, "/etc/dovecot"]], pluginCheck).err).toBe(`${oboxMissing(tmp)}\n`);
  });

  it("doveconf -n and the include check pass on the wired config; the include check names the missing line", () => {
    const [, doveconfCheck, includeCheck] = OBOX_CHECKS;
    const wired = confDir("checks-wired", { wired: true, fragment: true });
    for (const c of [doveconfCheck, includeCheck]) {
      const r = isolated([[wired, "/etc/dovecot"]], c);
      expect(r.err, c).toBe("");
      expect(r.code, c).toBe(0);
    }
    const unwired = confDir("checks-unwired", { wired: false, fragment: true });
    const r = isolated([[unwired, "/etc/dovecot"]], includeCheck);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`add "${OBOX_INCLUDE}" after conf.d/90-quota.conf`);
  });

  describe("the whole push through the real runner", () => {
    const payload = () =>
      renderPayload("obox", { ...oboxPush(SETTINGS, ""), reload: { command: "echo reloaded" } }, [
        {
          path: "/etc/dovecot/conf.d/90-obox.conf",
          content: renderOboxConf(SETTINGS, KEY),
          group: "dovecot",
          mode: "0640",
          secret: true,
        },
      ]);
    const push = (binds: Binds) =>
      isolated(binds, 'bash -c "$RUNNER" mailstack-push', {
        input: payload(),
        env: { ...process.env, RUNNER, MAILSTACK_LIB: path.join(ROOT, "files/lib/mailstack.sh") },
      });

    it("is refused on Debian's Dovecot before anything changes, with the clear message and no key", () => {
      const dir = confDir("push-debian", { wired: true, fragment: false });
      const r = push([[dir, "/etc/dovecot"]]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("mailstack-push: obox: check failed, nothing changed");
      expect(r.err).toContain(OBOX_MISSING);
      expect(r.out).not.toContain("reloaded");
      expect(fs.existsSync(path.join(dir, "conf.d", OBOX_FRAGMENT))).toBe(false);
      for (const text of [r.out, r.err]) {
        expect(text).not.toContain(KEY.secretAccessKey);
        expect(text).not.toContain(oboxUrlEscape(KEY.secretAccessKey));
      }
    });

    it("lands, root:dovecot 0640, where the obox plugin exists", () => {
      const dir = confDir("push-pro", { wired: true, fragment: false });
      const pro = path.join(tmp, "pro-modules-2");
      fs.mkdirSync(pro, { recursive: true });
      fs.writeFileSync(path.join(pro, "lib20_obox_plugin.so"), "");
      const r = push([
        [dir, "/etc/dovecot"],
        [pro, DOVECOT_MODULE_DIR],
      ]);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toContain("obox: updated /etc/dovecot/conf.d/90-obox.conf; ran: echo reloaded");
      const file = path.join(dir, "conf.d", OBOX_FRAGMENT);
      expect(fs.readFileSync(file, "utf8")).toBe(renderOboxConf(SETTINGS, KEY));
      const st = fs.statSync(file);
      expect((st.mode & 0o777).toString(8)).toBe("640");
      expect(st.uid).toBe(0);
      expect(run("getent", ["group", "dovecot"]).out.split(":")[2]).toBe(String(st.gid));
    });
  });
});
