// Hybrid authentication against the deployed sandbox: the LDAP domain
// corp.example.test logs in against the sandbox's slapd (10.213.0.3), local
// domains against the mail database, with the fallback rules of
// mailstack:ldapFallback local-if-exists (files/dovecot/conf.d/11-auth-ldap.conf):
//   - LDAP up: the directory decides; a local hash is never used;
//   - LDAP down: a user with a local hash (dan) may log in with it, a user
//     without one (carol) gets a temporary failure, nothing else logs in;
//   - a wrong password never falls back.
// Each rule is checked over IMAPS (curl), POP3S (curl) and submission on 587
// after STARTTLS (swaks; Dovecot's submission service), from this
// machine as a client would. test/sandbox/e2e.test.ts calls registerLdapTests after
// the mail tests; `scripts/sandbox.sh ldap-stop|ldap-start` takes LDAP down
// and up again, and it is always started again afterwards.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../src/core/template";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 120_000;
const SANDBOX = path.join(ROOT, "scripts", "sandbox.sh");

const CAROL = { user: "carol@corp.example.test", ldap: "carol-ldap-pw" };
const DAN = { user: "dan@corp.example.test", ldap: "dan-ldap-pw", local: "dan-local-pw" };
const ALICE = { user: "alice@example.test", local: "alice-sandbox-pw" };

/** How a login ended, read from the server's own reply. */
type Outcome = "ok" | "failed" | "temporary" | `unexpected: ${string}`;
type Protocol = "imap" | "pop3" | "submission";
const PROTOCOLS: readonly Protocol[] = ["imap", "pop3", "submission"];

/**
 * Mail log lines the LDAP-down cases provoke on purpose: Dovecot's LDAP
 * client losing and retrying the stopped slapd. Pass them to
 * registerHygieneTests. (The wrong passwords over submission are allowed there already.)
 */
export const LDAP_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern:
      /auth: Error: ldap\(\/etc\/dovecot\/dovecot-ldap\.[a-z0-9.-]+\.conf\.ext\): (Connection lost to LDAP server, reconnecting|Can't connect to server: ldaps?:\/\/[A-Za-z0-9.:[\]-]+)$/,
    why: "slapd stopped on purpose by the LDAP-down cases (sandbox.sh ldap-stop)",
  },
];

function tool(cmd: string, args: readonly string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 90_000 });
  if (r.error) {
    throw new Error(
      `${cmd} could not run (${r.error.message}); install it on the test machine: apt-get install swaks curl`,
    );
  }
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function sandbox(action: "ldap-stop" | "ldap-start"): void {
  const r = tool("bash", [SANDBOX, action]);
  if (r.code !== 0) throw new Error(`bash scripts/sandbox.sh ${action} failed: ${r.out}`);
}

export function registerLdapTests(ssh: SandboxSsh, host: string): void {
  /** One login over `protocol`, classified by the server's reply. */
  const login = (protocol: Protocol, user: string, password: string): Outcome => {
    if (protocol === "submission") {
      const t = tool("swaks", [
        ...["--server", host, "--port", "587", "--tls", "--timeout", "60"],
        ...["--auth", "PLAIN", "--auth-user", user, "--auth-password", password, "--quit-after", "AUTH"],
      ]);
      const replies = t.out
        .split("\n")
        .filter((l) => /^<[-~*]\*? /.test(l))
        .map((l) => l.replace(/^<[-~*]\*? +/, ""));
      if (replies.some((l) => l.startsWith("235 "))) return "ok";
      if (replies.some((l) => /^535 5\.7\.8 /.test(l))) return "failed";
      if (replies.some((l) => /^454 4\.7\.0 /.test(l))) return "temporary";
      return `unexpected: ${replies.join(" | ")}`;
    }
    const scheme = protocol === "imap" ? "imaps" : "pop3s";
    // -v shows the protocol exchange, so the server's reply can be read.
    const t = tool("curl", [
      "-sS",
      "-v",
      "--insecure",
      "--max-time",
      "60",
      "-u",
      `${user}:${password}`,
      `${scheme}://${host}/`,
    ]);
    const said = t.out.split("\n").filter((l) => l.startsWith("< "));
    if (t.code === 0) return "ok";
    const reply = said.join(" | ");
    if (protocol === "imap") {
      if (/NO \[AUTHENTICATIONFAILED\]/.test(reply)) return "failed";
      if (/NO \[UNAVAILABLE\]/.test(reply)) return "temporary";
    } else {
      if (/-ERR \[AUTH\]/.test(reply)) return "failed";
      if (/-ERR \[SYS\/TEMP\]/.test(reply)) return "temporary";
    }
    return `unexpected: curl exit ${t.code}: ${reply.slice(-300)}`;
  };
  /** The outcome over each protocol, so a failure names the protocol that broke the rule. */
  const everywhere = (user: string, password: string): Record<Protocol, Outcome> =>
    Object.fromEntries(PROTOCOLS.map((p) => [p, login(p, user, password)])) as Record<Protocol, Outcome>;
  const all = (o: Outcome): Record<Protocol, Outcome> => ({ imap: o, pop3: o, submission: o });

  describe("ldap: hybrid authentication, LDAP up", () => {
    it("the bind password is only in its own secret file, readable by root and dovecot alone", () => {
      const r = ssh(
        "stat -c '%U:%G %a %n' /etc/dovecot/dovecot-ldap-secret.conf.ext; grep -lr '^[[:space:]]*dnpass' /etc/dovecot",
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out.trim().split("\n")).toEqual([
        "root:dovecot 640 /etc/dovecot/dovecot-ldap-secret.conf.ext",
        "/etc/dovecot/dovecot-ldap-secret.conf.ext",
      ]);
    });

    it(
      "carol (LDAP) logs in with her directory password over IMAP, POP3 and submission",
      () => {
        expect(everywhere(CAROL.user, CAROL.ldap)).toEqual(all("ok"));
      },
      STEP,
    );

    it(
      "a wrong password fails on all three, as a plain failure",
      () => {
        expect(everywhere(CAROL.user, "not-carols-pw")).toEqual(all("failed"));
      },
      STEP,
    );

    it(
      "dan (LDAP with a local hash): the directory password works, the local one does not",
      () => {
        expect(everywhere(DAN.user, DAN.ldap)).toEqual(all("ok"));
        expect(everywhere(DAN.user, DAN.local)).toEqual(all("failed"));
      },
      STEP,
    );

    it(
      "a local user logs in with the local hash; an LDAP password is no use to her",
      () => {
        expect(everywhere(ALICE.user, ALICE.local)).toEqual(all("ok"));
        expect(login("imap", ALICE.user, CAROL.ldap)).toBe("failed");
      },
      STEP,
    );
  });

  describe("ldap: hybrid authentication, LDAP down (sandbox.sh ldap-stop)", () => {
    beforeAll(() => sandbox("ldap-stop"), STEP);
    // Always up again, whatever happened here.
    afterAll(() => sandbox("ldap-start"), STEP);

    it(
      "dan falls back to his local hash over IMAP, POP3 and submission",
      () => {
        expect(everywhere(DAN.user, DAN.local)).toEqual(all("ok"));
      },
      STEP,
    );

    it(
      "carol, who has no local hash, gets a temporary failure (IMAP [UNAVAILABLE], POP3 [SYS/TEMP], submission 454)",
      () => {
        expect(everywhere(CAROL.user, CAROL.ldap)).toEqual(all("temporary"));
      },
      STEP,
    );

    it(
      "a wrong password still does not log in",
      () => {
        // Refused as temporary: LDAP, which could not be asked, might have
        // known it. What matters is that no wrong password gets in.
        for (const [user, password] of [
          [CAROL.user, "not-carols-pw"],
          [DAN.user, "not-dans-pw"],
        ] as const) {
          const got = everywhere(user, password);
          for (const p of PROTOCOLS) expect(got[p], `${user} over ${p}`).toMatch(/^(failed|temporary)$/);
        }
      },
      STEP,
    );

    it(
      "local users keep working",
      () => {
        expect(everywhere(ALICE.user, ALICE.local)).toEqual(all("ok"));
      },
      STEP,
    );
  });

  describe("ldap: hybrid authentication, LDAP back (sandbox.sh ldap-start)", () => {
    it(
      "carol logs in again, and dan's local hash is refused again",
      async () => {
        // Dovecot reconnects on the next request; give it a few tries.
        let got = login("imap", CAROL.user, CAROL.ldap);
        for (let i = 0; i < 10 && got !== "ok"; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          got = login("imap", CAROL.user, CAROL.ldap);
        }
        expect(got).toBe("ok");
        expect(everywhere(CAROL.user, CAROL.ldap)).toEqual(all("ok"));
        expect(login("imap", DAN.user, DAN.local)).toBe("failed");
      },
      STEP,
    );
  });
}
