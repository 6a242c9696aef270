// The sandbox's test LDAP server (slapd in netns mailstack-ldap, made by
// `scripts/sandbox.sh up`), checked from this machine with ldap-utils the way
// the mail server will use it: user binds, the mail server's search account,
// the ACLs, and `ldap-stop`/`ldap-start` for the "LDAP down" fail-over tests.
// Passwords go through `-y FILE`, never `-w`.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../src/core/template";
import { STATE, sandboxEnv } from "../helpers/sandbox-env";

const SANDBOX = path.join(ROOT, "scripts", "sandbox.sh");

function need(env: Record<string, string>, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is missing from ${STATE}/sandbox.env: run bash scripts/sandbox.sh up`);
  return v;
}

const sb = sandboxEnv();
const URI = need(sb, "SANDBOX_LDAP_URI");
const BASE = need(sb, "SANDBOX_LDAP_BASE");
const BIND_DN = need(sb, "SANDBOX_LDAP_BIND_DN");
const BIND_PW_FILE = need(sb, "SANDBOX_LDAP_BIND_PW_FILE");
const PEOPLE = `ou=people,${BASE}`;
const CAROL = `uid=carol,${PEOPLE}`;
const DAN = `uid=dan,${PEOPLE}`;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

const CLIENT_OPTS = { encoding: "utf8", timeout: 15_000, env: { ...process.env, LDAPNOINIT: "1" } } as const;

/** Runs ldapwhoami or ldapsearch with bounded timeouts, ignoring ~/.ldaprc and ldap.conf. */
function client(tool: "ldapwhoami" | "ldapsearch", args: string[]): Result {
  const r = spawnSync(tool, ["-x", "-o", "nettimeout=5", "-H", URI, ...args], CLIENT_OPTS);
  if (r.error) throw new Error(`${tool}: ${r.error.message} (install ldap-utils on this machine)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const whoami = (dn: string, pwFile: string) => client("ldapwhoami", ["-D", dn, "-y", pwFile]);
const search = (args: string[]) => client("ldapsearch", ["-l", "5", "-LLL", ...args]);

function sandbox(cmd: string): Result {
  const r = spawnSync("bash", [SANDBOX, cmd], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp = "";
/** A password file as ldap-utils want it: mode 600, no trailing newline. */
function pwFile(name: string, password: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, password, { mode: 0o600 });
  return file;
}

describe("sandbox LDAP server", () => {
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-ldap-"));
  });
  afterAll(() => {
    // Whatever happened above, leave slapd running for the tests after this file.
    sandbox("ldap-start");
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the bind password file is private and has no trailing newline", () => {
    const st = fs.statSync(BIND_PW_FILE);
    expect(st.mode & 0o077).toBe(0);
    const pw = fs.readFileSync(BIND_PW_FILE, "utf8");
    expect(pw.length).toBeGreaterThanOrEqual(16);
    expect(pw).not.toMatch(/\s/);
  });

  it("carol and dan bind with their passwords", () => {
    for (const [dn, pw] of [
      [CAROL, "carol-ldap-pw"],
      [DAN, "dan-ldap-pw"],
    ] as const) {
      const r = whoami(dn, pwFile(pw, pw));
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(`dn:${dn}`);
    }
  });

  it("a wrong password is refused with Invalid credentials (49)", () => {
    const r = whoami(CAROL, pwFile("wrong", "dan-ldap-pw"));
    expect(r.status).toBe(49);
    expect(r.stderr).toContain("Invalid credentials (49)");
    expect(r.stdout).not.toContain("dn:");
  });

  it("the mail server's DN finds carol by mail under ou=people, without her password", () => {
    const r = search([
      ...["-D", BIND_DN, "-y", BIND_PW_FILE, "-b", PEOPLE],
      "(mail=carol@corp.example.test)",
      ...["dn", "mail", "userPassword"],
    ]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const dns = r.stdout.split("\n").filter((l) => l.startsWith("dn:"));
    expect(dns).toEqual([`dn: ${CAROL}`]);
    expect(r.stdout).toContain("mail: carol@corp.example.test");
    expect(r.stdout).not.toMatch(/userPassword/i);
  });

  it("the mail server's DN cannot log in with a wrong password", () => {
    const r = whoami(BIND_DN, pwFile("bind-wrong", "not-the-bind-pw"));
    expect(r.status).toBe(49);
  });

  it("anonymous reads no entries and no userPassword", () => {
    for (const base of [BASE, PEOPLE, CAROL]) {
      const r = search(["-b", base, "(objectClass=*)", "*", "userPassword"]);
      // Entries hidden by ACL read as "No such object" (32), or as an empty result.
      expect([0, 32]).toContain(r.status);
      expect(r.stdout).not.toMatch(/^dn:/m);
      expect(r.stdout).not.toMatch(/userPassword/i);
    }
    // Control: the server does answer anonymous clients (root DSE), so the check above is not vacuous.
    const dse = search(["-s", "base", "-b", "", "(objectClass=*)", "namingContexts"]);
    expect(dse.status).toBe(0);
    expect(dse.stdout).toContain(`namingContexts: ${BASE}`);
  });

  it("ldap-stop makes binds fail with Can't contact LDAP server (-1); ldap-start brings it back", () => {
    const carol = pwFile("carol-failover", "carol-ldap-pw");
    const stop = sandbox("ldap-stop");
    expect(stop.status, stop.stderr).toBe(0);
    try {
      const down = whoami(CAROL, carol);
      expect(down.status).toBe(255);
      expect(down.stderr).toContain("Can't contact LDAP server (-1)");
    } finally {
      const start = sandbox("ldap-start");
      expect(start.status, start.stderr).toBe(0);
    }
    const up = whoami(CAROL, carol);
    expect(up.status).toBe(0);
    expect(up.stdout.trim()).toBe(`dn:${CAROL}`);
  });
});
