// End to end: the real Pulumi engine (Automation API, built CLI, command
// provider) against the sandbox host made by scripts/sandbox.sh. Runs through
// `npm test` (scripts/test.sh), which builds the toolchain and starts the
// sandbox first; run alone it fails and says how to get them.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { type EngineEvent, LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import * as jsyaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMessageSize } from "../../src/concerns/postfix/settings";
import { DEFAULT_MESSAGE_SIZE_LIMIT, MAIL_LOG } from "../../src/core/host-layout";
import { renderPayload, shellQuote } from "../../src/core/push";
import { ROOT } from "../../src/core/template";
import { startTunnel } from "../../src/core/tunnel";
import { requireToolchain, sandboxStackSettings, writeStackFile } from "../helpers/engine";
import { sandboxEnv } from "../helpers/sandbox-env";
import { sandboxSsh } from "../helpers/sandbox-ssh";
import { registerAdoptionTests } from "./adoption-contract";
import { registerAuditTests } from "./audit-contract";
import { BACKUP_LOG_ALLOWED, registerBackupTests } from "./backup-contract";
import { registerDestroyTests } from "./destroy-contract";
import { registerDkimTests } from "./dkim-contract";
import { registerDnsTests } from "./dns-contract";
import { ROTATION_LOG_ALLOWED, registerFail2banTests } from "./fail2ban-contract";
import { FAULT_LOG_ALLOWED, registerFaultTests } from "./fault-contract";
import { registerFilterTests } from "./filter-contract";
import { HEALTH_LOG_ALLOWED, registerHealthTests } from "./health-contract";
import { LDAP_LOG_ALLOWED, registerLdapTests } from "./ldap-contract";
import { LOOKUP_LOG_ALLOWED, registerLookupTests } from "./lookups-contract";
import { registerMailTests } from "./mail-contract";
import { registerHygieneTests } from "./mail-hygiene-contract";
import { configSecrets, registerSecurityTests, securityLogAllowed } from "./security-contract";
import { registerSizeTests, SIZE_LOG_ALLOWED } from "./size-contract";
import { registerTlsTests } from "./tls-contract";

const execFileAsync = promisify(execFile);
const STACK = "e2e";
const STACK_FILE = path.join(ROOT, `Pulumi.${STACK}.yaml`);
const STEP = 15 * 60_000;
// A bcrypt hash for a throwaway test account; its password plays no part here.
const ZOE_HASH = "{BLF-CRYPT}$2b$05$nL1uc7Aga5SdBpQHnkn39u8qBQ.bC8SB9EfRyKGSDaldyv0Ka6jCW";

const sb = sandboxEnv();
/** The output of the first `up` of the run, a cold deploy. */
let firstDeploy = "";
const key = sb.SANDBOX_KEY ?? "";
const ssh = sandboxSsh();

/**
 * Every line of every secret the sandbox stack holds, as the deploying machine
 * and the host have them: what must never appear in plain text anywhere.
 */
function collectSecretLines(): string[] {
  return [
    ...fs
      .readFileSync(key, "utf8")
      .split("\n")
      .filter((l) => l.length > 20 && !l.startsWith("-----")),
    // The LDAP bind password, which the stack pushes in a secret file of its own.
    fs.readFileSync(sb.SANDBOX_LDAP_BIND_PW_FILE ?? "", "utf8").trim(),
    // The backup repository's password and the bucket's secret key.
    ...ssh("sed -n 's/^\\(RESTIC_PASSWORD\\|AWS_SECRET_ACCESS_KEY\\)=//p' /etc/mailstack/backup.env")
      .out.split("\n")
      .map((l) => l.replace(/^'|'$/g, ""))
      .filter((l) => l.length > 0),
    // The DKIM private keys, as the stack wrote them to the host.
    ...ssh("cat /var/lib/rspamd/dkim/*.key")
      .out.split("\n")
      .filter((l) => l.length > 20 && !l.startsWith("-----")),
  ];
}

let stack: Stack;
const logs: string[] = [];

/** The resources an operation touched, by operation. */
function changes(events: EngineEvent[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) {
    const meta = e.resOutputsEvent?.metadata;
    if (!meta || meta.op === "same" || meta.type === "pulumi:pulumi:Stack") continue;
    const name = meta.urn.split("::").pop() ?? meta.urn;
    out[meta.op] = [...(out[meta.op] ?? []), name];
  }
  return out;
}

async function up(): Promise<Record<string, string[]>> {
  const events: EngineEvent[] = [];
  await stack.up({ onOutput: (s) => logs.push(s), onEvent: (e) => events.push(e) });
  return changes(events);
}

beforeAll(async () => {
  requireToolchain();
  // The e2e stack starts as a copy of the sandbox stack's settings.
  const sandbox = sandboxStackSettings();
  // The key lives where scripts/sandbox.sh made it (MAILSTACK_CACHE may move it).
  const config = {
    ...sandbox.config,
    "mailstack:sshPrivateKeyPath": key,
    "mailstack:ldapBindPasswordPath": sb.SANDBOX_LDAP_BIND_PW_FILE,
    "mailstack:acmeCaBundlePath": sb.SANDBOX_ACME_CA,
  };
  // Same salt and passphrase, so the sandbox's encrypted values decrypt here too.
  writeStackFile(STACK, { encryptionsalt: sandbox.encryptionsalt, config });
  stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: ROOT });
}, STEP);

afterAll(async () => {
  // 5. Teardown: destroy the stack's resources and remove the stack.
  if (stack) {
    await stack.destroy({ onOutput: (s) => logs.push(s) });
    await stack.workspace.removeStack(STACK);
  }
  fs.rmSync(STACK_FILE, { force: true });
}, STEP);

describe("sandbox deployment through the real engine", () => {
  it(
    "1. up deploys the host, and SSH and the firewall work afterwards",
    async () => {
      const before = logs.length;
      await up();
      firstDeploy = logs.slice(before).join("");
      const outputs = await stack.outputs();
      expect(outputs.openPorts?.value.map((p: { port: number }) => p.port)).toEqual([
        22, 25, 80, 443, 465, 587, 993, 995,
      ]);
      expect(outputs.os?.value).toMatch(/^debian 12 (sysv|systemd)$/);
      expect(ssh("hostname").out.trim()).toBe("mail.example.test");
      const ufw = ssh("ufw status");
      expect(ufw.out).toContain("Status: active");
      expect(ufw.out).toMatch(/^22\/tcp\s+ALLOW/m);
      // PostgreSQL listens on loopback only.
      const pgListen = ssh("ss -Hltn 'sport = :5432' | awk '{ print $4 }' | sort").out.trim().split("\n");
      expect(pgListen.length).toBeGreaterThan(0);
      for (const a of pgListen) expect(a).toMatch(/^(127\.0\.0\.1|\[::1\]):5432$/);
      // The sandbox has no route off the machine.
      expect(ssh("ip route show default").out).toBe("");
      expect(ssh("sshd -T | grep -E '^(passwordauthentication|permitrootlogin) '").out).toBe(
        "permitrootlogin without-password\npasswordauthentication no\n",
      );
    },
    STEP,
  );

  // Every Postfix and Dovecot lookup, run as the daemons' own roles against
  // the database just deployed (test/sandbox/lookups-contract.ts).
  registerLookupTests(ssh);
  // The import IDs `npm run db-adopt` prints, against the roles and database
  // the sandbox's DBA made (test/sandbox/adoption-contract.ts).
  registerAdoptionTests(ssh, sandboxStackSettings().config);
  // Real mail through the deployed Postfix and Dovecot (test/sandbox/mail-contract.ts).
  registerMailTests(ssh, sb.SANDBOX_HOST ?? "");
  registerFilterTests(ssh, sb.SANDBOX_HOST ?? "");
  // A 25 MiB attachment through 25, 587 and 465; the limit, and one byte over it (test/sandbox/size-contract.ts).
  registerSizeTests(
    ssh,
    sb.SANDBOX_HOST ?? "",
    parseMessageSize(String(sandboxStackSettings().config["mailstack:messageSizeLimit"] ?? "")) ??
      DEFAULT_MESSAGE_SIZE_LIMIT,
  );
  // DKIM signing, verified against the published keys, and a rotation (test/sandbox/dkim-contract.ts).
  registerDkimTests(ssh, sb.SANDBOX_HOST ?? "", {
    records: async () => (await stack.outputs()).dkimRecords?.value ?? [],
    signWith: async (selector) => {
      await stack.setConfig('mailstack:dkim["example.test"].sign', { value: selector }, true);
      await up();
    },
  });
  // The zones output served by NSD; SPF, DKIM and DMARC of a signed message (test/sandbox/dns-contract.ts).
  registerDnsTests(ssh, sb.SANDBOX_HOST ?? "", {
    zones: async () => (await stack.outputs()).dnsZones?.value ?? {},
    dkimRecords: async () => (await stack.outputs()).dkimRecords?.value ?? [],
  });
  // Certificates from Pebble on every TLS port, nginx's files, renewals (test/sandbox/tls-contract.ts).
  registerTlsTests(ssh, sb.SANDBOX_HOST ?? "", {
    acmeCa: sb.SANDBOX_ACME_CA ?? "",
    acmeRootUrl: sb.SANDBOX_ACME_ROOT_URL ?? "",
    domains: ["example.test", "example.org", "corp.example.test"],
    zones: async () => (await stack.outputs()).dnsZones?.value ?? {},
  });
  // Backups into the sandbox's MinIO, and restores (test/sandbox/backup-contract.ts).
  registerBackupTests(ssh, sb.SANDBOX_HOST ?? "", { s3DataDir: sb.SANDBOX_S3_DATA ?? "" });
  // Fail2ban's bans, from a second test host (test/sandbox/fail2ban-contract.ts).
  registerFail2banTests(
    ssh,
    sb.SANDBOX_HOST ?? "",
    sb.SANDBOX_LDAP_NETNS ?? "mailstack-ldap",
    sb.SANDBOX_LDAP_HOST ?? "10.213.0.3",
  );
  // Hybrid LDAP/local authentication and its fallback rules (test/sandbox/ldap-contract.ts).
  registerLdapTests(ssh, sb.SANDBOX_HOST ?? "");

  it("the first deployment prints no warning the README does not explain", () => {
    // Each allowed line, with the README's words that explain it.
    const allowed = [
      {
        line: /warning: using pulumi-resource-command from \$PATH at \S+$/,
        readme: "warning: using\npulumi-resource-command from $PATH at ...",
      },
      {
        line: /useradd warning: vmail's uid 5000 is greater than SYS_UID_MAX 999$/,
        readme: "`useradd warning: vmail's uid 5000 is greater than SYS_UID_MAX 999`",
      },
      {
        line: /rehash: warning: skipping ca-certificates\.crt,it does not contain exactly one certificate or CRL$/,
        readme:
          "`rehash: warning: skipping ca-certificates.crt,it does not contain exactly one certificate or\n  CRL`",
      },
    ];
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    for (const a of allowed) expect(readme, "the README explains it").toContain(a.readme);
    const lines = firstDeploy
      .split("\n")
      .filter((l) => /warning:|could not|permission denied|\berror\b/i.test(l));
    expect(lines.length, "the toolchain's own warning is seen, so the output was read").toBeGreaterThan(0);
    expect(lines.filter((l) => !allowed.some((a) => a.line.test(l.trim())))).toEqual([]);
  });

  it(
    "2. a second run changes nothing",
    async () => {
      // With the policy pack (policy/): a mandatory violation fails the preview.
      const preview = await stack.preview({
        expectNoChanges: true,
        policyPacks: [path.join(ROOT, "policy")],
        onOutput: (s) => logs.push(s),
      });
      expect(Object.keys(preview.changeSummary)).toEqual(["same"]);
    },
    STEP,
  );

  it(
    "2b. the same domains, users and aliases in another order change nothing",
    async () => {
      const text = fs.readFileSync(STACK_FILE, "utf8");
      const settings = jsyaml.load(text) as { config: Record<string, unknown> };
      const reversed = (key: string) => [...(settings.config[key] as unknown[])].reverse();
      const domains = settings.config["mailstack:domains"] as unknown[];
      try {
        // The first domain names the default bucket (README, "Order in the
        // config"); the rest, and every user and alias, in reverse.
        settings.config["mailstack:domains"] = [domains[0], ...domains.slice(1).reverse()];
        settings.config["mailstack:users"] = reversed("mailstack:users");
        settings.config["mailstack:aliases"] = reversed("mailstack:aliases");
        fs.writeFileSync(STACK_FILE, jsyaml.dump(settings));
        const preview = await stack.preview({ onOutput: (s) => logs.push(s) });
        expect(preview.changeSummary).toEqual({ same: expect.any(Number) });
      } finally {
        fs.writeFileSync(STACK_FILE, text);
      }
    },
    STEP,
  );

  it(
    "3. changing one setting runs only that push",
    async () => {
      await stack.setConfig("mailstack:timezone", { value: "Europe/Berlin" });
      const changed = await up();
      expect(changed).toEqual({ update: ["mail-host-timezone-apply"] });
      expect(ssh("cat /etc/timezone; readlink /etc/localtime").out).toBe(
        "Europe/Berlin\n/usr/share/zoneinfo/Europe/Berlin\n",
      );
      // rsyslog reads the zone when it starts: it was restarted, so the mail
      // log goes on in the new zone's offset, not the one it started with.
      const offset = ssh("date +%:z").out.trim();
      const marker = `zone-${Date.now()}`;
      expect(ssh(`logger -p mail.info -t mailstack-zone ${marker}`).code).toBe(0);
      let stamped = "";
      for (let i = 0; i < 20 && stamped === ""; i++) {
        stamped = ssh(`grep -F ' ${marker}' ${MAIL_LOG} | cut -d' ' -f1`).out.trim();
        if (stamped === "") await new Promise((r) => setTimeout(r, 500));
      }
      expect(stamped).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+\\${offset}$`));
    },
    STEP,
  );

  it(
    "4. a broken sshd setting fails with sshd's own message and SSH keeps working",
    async () => {
      const before = ssh("cat /etc/ssh/sshd_config.d/50-mailstack.conf").out;
      await stack.setConfig("mailstack:sshdOptions.MaxAuthTries", { value: "lots" }, true);
      const failure = await up().then(
        () => "up succeeded",
        (err: Error) => err.message,
      );
      expect(failure).toContain("check failed, nothing changed: sshd -t");
      expect(failure).toMatch(/50-mailstack\.conf line \d+/);
      expect(ssh("true").code).toBe(0);
      expect(ssh("cat /etc/ssh/sshd_config.d/50-mailstack.conf").out).toBe(before);

      await stack.removeConfig("mailstack:sshdOptions.MaxAuthTries", true);
      const preview = await stack.preview({ onOutput: (s) => logs.push(s) });
      expect(preview.changeSummary.update ?? 0).toBe(0);
    },
    STEP,
  );

  it(
    "obox mode on Debian's Dovecot fails with the reason, and nothing changes",
    async () => {
      const before = ssh("md5sum /etc/dovecot/dovecot.conf /etc/dovecot/conf.d/*").out;
      await stack.setConfig("mailstack:mailStorage", { value: "obox" });
      // The sandbox's MinIO speaks plain http on the bridge.
      await stack.setConfig("mailstack:obox.allowHttp", { value: "true" }, true);
      const failure = await up().then(
        () => "up succeeded",
        (err: Error) => err.message,
      );
      await stack.removeConfig("mailstack:mailStorage");
      await stack.removeConfig("mailstack:obox");
      expect(failure).toContain("obox needs Dovecot Pro: no dovecot-ee-core package on this host");
      expect(ssh("md5sum /etc/dovecot/dovecot.conf /etc/dovecot/conf.d/*").out).toBe(before);
      expect(ssh("test -e /etc/dovecot/conf.d/90-obox.conf").code).toBe(1);
      // The failed up registered the obox component, whose push never ran;
      // the next up only drops it from the state.
      const converge = await up();
      expect(Object.keys(converge).filter((op) => op !== "delete")).toEqual([]);
      for (const n of converge.delete ?? []) expect(n).toMatch(/^mail-obox/);
      const preview = await stack.preview({ onOutput: (s) => logs.push(s) });
      expect(Object.keys(preview.changeSummary)).toEqual(["same"]);
    },
    STEP,
  );

  it(
    "accounts added and removed show in the preview; a removed user is disabled, not deleted",
    async () => {
      const db = (sql: string) =>
        ssh(`runuser -u postgres -- psql -XAtq -d mailserver -c ${shellQuote(sql)}`).out.trim();
      const users = (await stack.getConfig("mailstack:users")).value;
      const count = (JSON.parse(users) as unknown[]).length;
      await stack.setConfig(`mailstack:users[${count}].address`, { value: "zoe@example.test" }, true);
      await stack.setConfig(
        'mailstack:passwordHashes["zoe@example.test"]',
        { value: ZOE_HASH, secret: true },
        true,
      );
      const added: string[] = [];
      await stack.preview({ diff: true, onOutput: (s) => added.push(s) });
      expect(added.join("")).toMatch(/\+\s+\('zoe@example\.test', 0, true\)/);
      await up();
      expect(db("SELECT enabled FROM virtual_users WHERE email = 'zoe@example.test'")).toBe("t");

      await stack.removeConfig(`mailstack:users[${count}]`, true);
      await stack.removeConfig('mailstack:passwordHashes["zoe@example.test"]', true);
      const removed: string[] = [];
      await stack.preview({ diff: true, onOutput: (s) => removed.push(s) });
      expect(removed.join("")).toMatch(/-\s+\('zoe@example\.test', 0, true\)/);
      await up();
      expect(db("SELECT enabled FROM virtual_users WHERE email = 'zoe@example.test'")).toBe("f");
    },
    STEP,
  );

  it("the SSH tunnel of managed mode reaches the host's own PostgreSQL", async () => {
    // A throwaway password for the test, sent over stdin and removed afterwards.
    const setPassword = (sql: string) => ssh("runuser -u postgres -- psql -Xq -f -", sql);
    expect(setPassword("ALTER ROLE postgres PASSWORD 'tunnel-test';").code).toBe(0);
    const tunnelArgs = {
      connection: { host: sb.SANDBOX_HOST ?? "", port: 22, user: "root" },
      localPort: 25432,
      remotePort: 5432,
    };
    const server = await startTunnel(tunnelArgs, fs.readFileSync(key, "utf8"));
    try {
      // Asynchronously: the tunnel lives in this process, so a blocking spawn would starve it.
      const r = await execFileAsync(
        "psql",
        ["-XAt", "-h", "127.0.0.1", "-p", "25432", "-U", "postgres", "-c", "SELECT inet_server_addr()"],
        { encoding: "utf8", env: { ...process.env, PGPASSWORD: "tunnel-test", PGCONNECT_TIMEOUT: "10" } },
      );
      expect(r.stderr).toBe("");
      // The server saw the connection arrive on its own loopback.
      expect(r.stdout.trim()).toBe("127.0.0.1");
      // A second tunnel on the same port names the setting to change.
      await expect(startTunnel(tunnelArgs, "unused")).rejects.toThrow("mailstack:dbTunnelPort");
    } finally {
      server.close();
      setPassword("ALTER ROLE postgres PASSWORD NULL;");
    }
  });

  it(
    "bad config fails preview with the key and the fix, before anything changes",
    async () => {
      await stack.setConfig("mailstack:adminEmail", { value: "postmaster" });
      const failure = await stack.preview({ onOutput: (s) => logs.push(s) }).then(
        () => "preview succeeded",
        (err: Error) => err.message,
      );
      await stack.setConfig("mailstack:adminEmail", { value: "postmaster@example.test" });
      expect(failure).toContain("mailstack:adminEmail");
      expect(failure).toContain("Fix: pulumi config set mailstack:adminEmail");
    },
    STEP,
  );

  it("a firewall that would close SSH is refused before anything changes", () => {
    const runner = fs.readFileSync(path.join(ROOT, "files/push/runner.sh"), "utf8");
    const payload = renderPayload(
      "firewall",
      {
        check: ["/usr/local/sbin/mailstack-firewall --check /etc/mailstack/firewall.rules"],
        reload: { command: "/usr/local/sbin/mailstack-firewall /etc/mailstack/firewall.rules" },
      },
      [{ path: "/etc/mailstack/firewall.rules", content: "allow 25/tcp\n" }],
    );
    const r = ssh(`bash -c ${shellQuote(runner)} mailstack-push`, payload);
    expect(r.err).toContain("refusing to lock out SSH");
    expect(r.code).toBe(1);
    expect(ssh("ufw status").out).toMatch(/^22\/tcp\s+ALLOW/m);
  });

  // The audit report renders from the stack's state and outputs, and holds no secret (test/sandbox/audit-contract.ts).
  registerAuditTests({ stack: () => STACK, secrets: collectSecretLines });

  // Last but one: the port scan, the TLS scan, SSH, and secrets in the state
  // export, the deploy logs, process arguments and files on the host (test/sandbox/security-contract.ts).
  registerSecurityTests(ssh, sb.SANDBOX_HOST ?? "", {
    openPorts: async () =>
      ((await stack.outputs()).openPorts?.value ?? []).map((p: { port: number }) => p.port),
    sshPort: Number(sb.SANDBOX_SSH_PORT ?? "22"),
    scanner: { netns: sb.SANDBOX_LDAP_NETNS ?? "mailstack-ldap", addr: sb.SANDBOX_LDAP_HOST ?? "10.213.0.3" },
    acmeCa: sb.SANDBOX_ACME_CA ?? "",
    acmeRootUrl: sb.SANDBOX_ACME_ROOT_URL ?? "",
    secrets: async () => [
      ...configSecrets(await stack.getAllConfig()),
      // Read from this machine by path, so not in the stack's config.
      { name: "the deploy key", value: fs.readFileSync(key, "utf8") },
      { name: "the LDAP bind password", value: fs.readFileSync(sb.SANDBOX_LDAP_BIND_PW_FILE ?? "", "utf8") },
    ],
    // What an auditor runs; the Automation API's exportStack() would decrypt.
    stateExport: () => {
      // The export is over 1 MiB, spawnSync's default buffer.
      const r = spawnSync("pulumi", ["stack", "export", "--stack", STACK, "--cwd", ROOT], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      if (r.status !== 0)
        throw new Error(`pulumi stack export failed: ${r.error?.message ?? ""} ${r.stderr}`);
      return r.stdout;
    },
    deployLogs: () => logs.join(""),
    // A backup handles restic's password and the bucket's key: sample the processes meanwhile.
    busy: "mailstack-backup",
  });
  // Broken configs, PostgreSQL down, a deployment under load and a power cut (test/sandbox/fault-contract.ts).
  registerFaultTests(ssh, sb.SANDBOX_HOST ?? "", {
    up,
    unchanged: async () => {
      const p = await stack.preview({ onOutput: (s) => logs.push(s) });
      return Object.keys(p.changeSummary).every((op) => op === "same");
    },
    setConfig: async (key, value) => {
      if (value === undefined) await stack.removeConfig(key);
      else await stack.setConfig(key, { value });
    },
  });
  // Stopping management: a destroy leaves the host working, and the stack
  // takes it back, from the saved state and from none (test/sandbox/destroy-contract.ts).
  registerDestroyTests(ssh, sb.SANDBOX_HOST ?? "", {
    pulumi: (args) => {
      const r = spawnSync("pulumi", [...args, "--stack", STACK, "--cwd", ROOT, "--non-interactive"], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    up,
    unchanged: async () => {
      const p = await stack.preview({ onOutput: (s) => logs.push(s) });
      return Object.keys(p.changeSummary).every((op) => op === "same");
    },
  });
  // mailstack-health, healthy and broken, against an NSD serving the zones (test/sandbox/health-contract.ts).
  registerHealthTests(ssh, sb.SANDBOX_HOST ?? "", {
    bridgeAddress: sb.SANDBOX_DNS ?? "10.213.0.1",
    zones: async () => (await stack.outputs()).dnsZones?.value ?? {},
    configure: async (settings) => {
      // The sandbox's own settings come back with undefined.
      const own = sandboxStackSettings().config["mailstack:health"] as Record<string, unknown> | undefined;
      await stack.removeConfig("mailstack:health");
      for (const [k, v] of Object.entries(settings ?? own ?? {})) {
        await stack.setConfig(`mailstack:health.${k}`, { value: String(v) }, true);
      }
      await up();
    },
  });
  // Last: the TLS versions, postscreen, and a mail log with no unexplained
  // errors or warnings after everything above (test/sandbox/mail-hygiene-contract.ts).
  registerHygieneTests(ssh, sb.SANDBOX_HOST ?? "", [
    ...securityLogAllowed(sb.SANDBOX_LDAP_HOST ?? "10.213.0.3"),
    ...LDAP_LOG_ALLOWED,
    ...LOOKUP_LOG_ALLOWED,
    ...BACKUP_LOG_ALLOWED,
    ...FAULT_LOG_ALLOWED,
    ...HEALTH_LOG_ALLOWED,
    ...SIZE_LOG_ALLOWED,
    ...ROTATION_LOG_ALLOWED,
  ]);
});
