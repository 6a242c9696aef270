// Fail2ban against the deployed sandbox (mailstack:fail2ban in
// Pulumi.sandbox.yaml: 3 failures, 20 s bans, 10.213.0.1 allowlisted). Wrong
// IMAP passwords come from a second test host, the LDAP host's namespace
// (10.213.0.3, through `ip netns exec`), until it is banned: its connections
// are refused, this machine (10.213.0.1) keeps working, and the ban expires.
// The same failures from the allowlisted 10.213.0.1 ban nothing. After two
// forced rotations of the mail log (logrotate's rsyslog entry), rsyslog writes
// the new file without losing a line, and Fail2ban and the health check read it.
// test/sandbox/e2e.test.ts calls registerFail2banTests after the mail tests.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { tool } from "../helpers/mail-clients";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 3 * 60_000;
const MAX_RETRY = 3;
const BAN_SECONDS = 20;
const ALICE = { user: "alice@example.test", password: "alice-sandbox-pw" };
const RUN = randomBytes(4).toString("hex");
/** Numbered lines logged across the two rotations. */
const ROTATION_LINES = 300;

/** The error line the rotation case writes for the health check to find. */
export const ROTATION_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern: /mailstack-rotation: error: rotation-[0-9a-f]{8} for the health check$/,
    why: "written on purpose after two rotations, for the health check to report",
  },
];

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
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
      () => banAndExpire(),
      STEP,
    );

    it(
      "after two rotations of the mail log, rsyslog writes the new file, no line is lost, Fail2ban still bans, and the health check sees a new error",
      async () => {
        const tag = `rotation-${RUN}`;
        const must = (cmd: string) => {
          const r = ssh(cmd);
          expect(r.code, `${cmd}: ${r.out}${r.err}`).toBe(0);
          return r.out;
        };
        const logged = (file: string) =>
          Number(ssh(`zcat -f ${file} | grep -cF '${tag} '`).out.trim() || "0");
        // The health check's position, before the rotations.
        ssh(`mailstack-health --state ${tag} >/dev/null`);
        // Lines through the one writer all along both rotations, numbered.
        must(
          `nohup sh -c 'for i in $(seq ${ROTATION_LINES}); do logger -p mail.info -t mailstack-rotation "${tag} $i"; sleep 0.01; done' >/dev/null 2>&1 </dev/null & echo $! >/tmp/${tag}.pid`,
        );
        for (let i = 0; i < 2; i++) {
          await sleep(800);
          must("logrotate -f /etc/logrotate.d/rsyslog");
        }
        await until("the numbered lines to end", () => ssh(`kill -0 $(cat /tmp/${tag}.pid)`).code !== 0, 60);
        await sleep(1000);
        // Each rotation took some of them, and rsyslog reopened: the newest
        // file has the last ones.
        expect(logged("/var/log/mail.log.2.gz"), "lines before the first rotation").toBeGreaterThan(0);
        expect(logged("/var/log/mail.log.1"), "lines between the rotations").toBeGreaterThan(0);
        expect(must(`grep -F '${tag} ' /var/log/mail.log | tail -n1`).trim()).toMatch(
          new RegExp(`${tag} ${ROTATION_LINES}$`),
        );
        // No line lost, none twice.
        const numbers = must(
          `zcat -f /var/log/mail.log /var/log/mail.log.1 /var/log/mail.log.2.gz | grep -F '${tag} ' | awk '{ print $NF }' | sort -n | uniq -c | awk '$1 == 1' | wc -l`,
        );
        expect(Number(numbers.trim())).toBe(ROTATION_LINES);
        expect(logged("/var/log/mail.log /var/log/mail.log.1 /var/log/mail.log.2.gz")).toBe(ROTATION_LINES);
        // Postfix and Dovecot write into the new file too: a message's lines.
        const sent = tool("swaks", [
          ...["--server", host, "--port", "25", "--timeout", "20", "--from", "someone@outside.test"],
          ...[
            "--to",
            ALICE.user,
            "--header",
            `Subject: ${tag}`,
            "--header",
            `Message-ID: <${tag}@outside.test>`,
          ],
        ]);
        expect(sent.code, sent.out).toBe(0);
        // Postfix's lines name the queue id; its LMTP line, Dovecot's session,
        // which Dovecot's line names.
        const linesOfMessage = [
          `id=$(grep -E 'postfix/cleanup\\[[0-9]+\\]: [0-9A-F]+: message-id=<${tag}@outside\\.test>' /var/log/mail.log | sed -E 's/.*: ([0-9A-F]+): message-id=.*/\\1/' | head -n1)`,
          `[ -n "$id" ] || exit 1`,
          `sess=$(grep -E "postfix/lmtp\\[[0-9]+\\]: $id: .*status=sent \\(250 2\\.0\\.0 <[^>]+> [^ ]+ Saved\\)" /var/log/mail.log | sed -E 's/.* ([^ ]+) Saved\\)$/\\1/' | head -n1)`,
          `[ -n "$sess" ] || exit 1`,
          // The session id is base64: a literal, as "+" would be a pattern.
          `grep -F "><$sess>: " /var/log/mail.log | grep -qE "dovecot: lmtp\\([^)]+\\)<[0-9]+><[^>]+>: .*(saved|stored) mail"`,
        ].join("\n");
        await until(
          "Postfix's and Dovecot's lines of the message in the new mail log",
          () => ssh("bash -s", linesOfMessage).code === 0,
          30,
        ).catch((e: Error) => {
          const seen = ssh(
            `grep -F '${tag}@outside' /var/log/mail.log | tail -n 5; postqueue -p | tail -n 5`,
          );
          throw new Error(`${e.message}; the mail log and queue say:\n${seen.out}`);
        });
        // Fail2ban follows the new file: it still bans.
        await banAndExpire();
        // And the health check sees an error written after the rotations.
        must(`logger -p mail.err -t mailstack-rotation "error: ${tag} for the health check"`);
        const health = ssh(`mailstack-health --state ${tag}`);
        expect(health.code, health.out).not.toBe(0);
        expect(health.out).toMatch(/^FAIL +mail log: [1-9]\d* error\(s\)/m);
        expect(health.out).toMatch(/mailstack-rotation: error: rotation-/);
      },
      STEP,
    );
  });

  async function banAndExpire(): Promise<void> {
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
    await until(`${clientAddr} logging in again`, () => login(ALICE.password, clientNetns).code === 0, 15);
  }

  describe("fail2ban: allowlist", () => {
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
