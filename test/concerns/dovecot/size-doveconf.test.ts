// The message size limit through Debian's own Dovecot (dovecot-core, installed
// by scripts/test.sh and never started): doveconf parses the stack's whole
// config from a temporary directory and reports submission_max_mail_size as
// the configured limit less 1024, for the default and for a limit that is no round size.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DOVECOT_FRAGMENTS,
  renderDovecotConf,
  renderDovecotFragment,
} from "../../../src/concerns/dovecot/render-dovecot";
import { DEFAULT_MESSAGE_SIZE_LIMIT, SUBMISSION_SIZE_ALLOWANCE } from "../../../src/core/host-layout";

let tmp: string;

beforeAll(() => {
  if (!fs.existsSync("/usr/bin/doveconf")) {
    throw new Error("doveconf is missing: install dovecot-core (scripts/test.sh does, without starting it)");
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-size-"));
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The stack's dovecot.conf and fragments in a directory of their own; its dovecot.conf. */
function confDir(name: string, messageSizeLimit?: number): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "conf.d"), { recursive: true });
  // doveconf reads the certificate and key (ssl_cert = <file); it does not parse them.
  for (const f of ["cert.pem", "key.pem"]) fs.writeFileSync(path.join(dir, f), "not checked by doveconf\n");
  const args = {
    certPath: path.join(dir, "cert.pem"),
    keyPath: path.join(dir, "key.pem"),
    postmaster: "postmaster@example.test",
    ...(messageSizeLimit === undefined ? {} : { messageSizeLimit }),
  };
  fs.writeFileSync(path.join(dir, "dovecot.conf"), renderDovecotConf());
  for (const f of DOVECOT_FRAGMENTS) {
    fs.writeFileSync(path.join(dir, "conf.d", f), renderDovecotFragment(f, args));
  }
  return path.join(dir, "dovecot.conf");
}

/** A size as doveconf prints it ("35 M", "36700161 B") -> bytes. */
function bytes(printed: string): number {
  const m = /^(\d+)\s*([BKMGT]?)$/i.exec(printed.trim());
  if (!m) throw new Error(`doveconf printed "${printed}", which is no size`);
  const unit =
    { "": 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m[2] ?? "").toUpperCase()] ?? 1;
  return Number(m[1]) * unit;
}

function doveconf(conf: string, ...args: string[]) {
  const r = spawnSync("doveconf", ["-c", conf, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("the message size limit in Debian's Dovecot", () => {
  for (const [name, limit] of [
    ["the default", undefined],
    ["50 MiB", 50 * 2 ** 20],
    ["a limit that is no round size", 36700161],
  ] as const) {
    it(`doveconf accepts the config and reads submission_max_mail_size as ${name}`, () => {
      const conf = confDir(name.replaceAll(" ", "-"), limit);
      const all = doveconf(conf, "-n");
      expect(all.code, all.err).toBe(0);
      const size = doveconf(conf, "-h", "submission_max_mail_size");
      expect(size.code, size.err).toBe(0);
      // What Dovecot announces: the limit less the 1024 bytes it keeps for its header.
      expect(bytes(size.out)).toBe((limit ?? DEFAULT_MESSAGE_SIZE_LIMIT) - SUBMISSION_SIZE_ALLOWANCE);
    });
  }
});
