// Fail2ban against the deployed sandbox (mailstack:fail2ban in
// Pulumi.sandbox.yaml: 3 failures, 20 s bans, 10.213.0.1 allowlisted). Wrong
// IMAP passwords come from a second test host, the LDAP host's namespace
// (10.213.0.3, through `ip netns exec`), until it is banned: its connections
// are refused, this machine (10.213.0.1) keeps working, and the ban expires.
// The same failures from the allowlisted 10.213.0.1 ban nothing.
// test/sandbox/e2e.test.ts calls registerFail2banTests after the mail tests.
import { describe, expect, it } from "vitest";
import { tool } from "../helpers/mail-clients";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 3 * 60_000;
const MAX_RETRY = 3;
const BAN_SECONDS = 20;
const ALICE = { user: "alice@example.test", password: "alice-sandbox-pw" };

export function registerFail2banTests(
  ssh: SandboxSsh,
  host: string,
  clientNetns: string,
  clientAddr: string,
): void {
  /** One IMAPS login with curl, from this machine or from inside `netns`. */
  const login = (password: string, netns?: string) =>
    tool(netns ? "ip" : "curl", [
      ...(netns ? ["netns", "exec", netns, "curl"] : []),
      ...["-sS", "--insecure", "--max-time", "10", "-u", `${ALICE.user}:${password}`, `imaps://${host}/`],
    ]);
  /** The addresses a jail has banned now. */
  const banned = (jail: string): string[] => {
    const r = ssh(`fail2ban-client status ${jail}`);
    expect(r.code, r.err).toBe(0);
    return (/Banned IP list:\s*(.*)$/m.exec(r.out)?.[1] ?? "").split(/\s+/).filter((a) => a !== "");
  };
  const until = async (what: string, done: () => boolean, seconds: number): Promise<void> => {
    for (let i = 0; i < seconds * 2; i++) {
      if (done()) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${what} did not happen within ${seconds} s`);
  };

  describe("fail2ban: bans through the firewall", () => {
    it("runs the sshd, postfix, postfix-sasl, dovecot and recidive jails", () => {
      const r = ssh("fail2ban-client status");
      expect(r.code, r.err).toBe(0);
      const jails = (/Jail list:\s*(.*)$/m.exec(r.out)?.[1] ?? "").split(/,\s*/).sort();
      expect(jails).toEqual(["dovecot", "postfix", "postfix-sasl", "recidive", "sshd"]);
    });

    it(
      `${MAX_RETRY} wrong passwords from a test host ban it: its connections are refused, other hosts keep working, and the ban expires`,
      async () => {
        expect(banned("dovecot")).not.toContain(clientAddr);
        expect(login(ALICE.password, clientNetns).code, "the test host can log in before").toBe(0);
        for (let i = 0; i < MAX_RETRY; i++) expect(login("not-alices-pw", clientNetns).code).not.toBe(0);
        await until(`a ban of ${clientAddr}`, () => banned("dovecot").includes(clientAddr), 30);
        // The ban is a UFW rule: "Anywhere  REJECT  10.213.0.3  # by Fail2Ban ...".
        expect(ssh("ufw status").out).toMatch(new RegExp(`REJECT\\s+${clientAddr.replace(/\./g, "\\.")}\\s`));
        // Refused by the firewall: curl cannot even connect (exit 7), right password or not.
        expect(login(ALICE.password, clientNetns).code).toBe(7);
        // This machine is another host: it still logs in.
        expect(login(ALICE.password).code).toBe(0);
        await until(
          `the end of ${clientAddr}'s ban`,
          () => !banned("dovecot").includes(clientAddr),
          BAN_SECONDS + 30,
        );
        await until(
          `${clientAddr} logging in again`,
          () => login(ALICE.password, clientNetns).code === 0,
          15,
        );
      },
      STEP,
    );

    it(
      "an allowlisted address is never banned, however often it fails",
      async () => {
        for (let i = 0; i < MAX_RETRY + 2; i++) expect(login("not-alices-pw").code).not.toBe(0);
        // Longer than a ban took above.
        await new Promise((r) => setTimeout(r, 5000));
        expect(banned("dovecot")).not.toContain("10.213.0.1");
        expect(login(ALICE.password).code).toBe(0);
      },
      STEP,
    );
  });
}
