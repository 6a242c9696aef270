// Real mail against the deployed sandbox: Postfix and Dovecot as the stack
// configured them, with the accounts of Pulumi.sandbox.yaml. Clients run on
// this machine, as a sender or a user would: swaks for SMTP, curl for IMAP and
// POP3, over the sandbox bridge. test/sandbox/e2e.test.ts calls registerMailTests
// right after deploying. Every message carries a token unique to this run, so
// a case only counts mail it sent itself.
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { DATABASE_SPEC } from "../../src/concerns/database/spec";
import { shellQuote } from "../../src/core/push";
import { ROOT } from "../../src/core/template";
import { inbound, replies, tool } from "../helpers/mail-clients";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 60_000;
const RUN = randomBytes(4).toString("hex");
const VMAIL = "/var/vmail";

export function registerMailTests(ssh: SandboxSsh, host: string): void {
  let n = 0;
  /** A fresh subject token for one message. */
  const token = () => `mailstack-${RUN}-${++n}`;

  const swaks = (args: readonly string[]) => tool("swaks", ["--server", host, "--timeout", "20", ...args]);
  /** Mail from outside to port 25, no login. */
  const fromOutside = (to: string, subject = token()) => inbound(host, to, subject);
  /** Mail from a user on 587 after STARTTLS (or 465 with implicit TLS). */
  const submit = (
    login: string,
    password: string,
    from: string,
    to: string,
    subject = token(),
    port: 587 | 465 = 587,
  ) =>
    swaks([
      ...(port === 587 ? ["--port", "587", "--tls"] : ["--port", "465", "--tls-on-connect"]),
      ...["--auth", "PLAIN", "--auth-user", login, "--auth-password", password],
      ...["--from", from, "--to", to, "--header", `Subject: ${subject}`],
    ]);

  /** grep -l over the message files (Maildir new/ and cur/, no index files) under `root`. */
  const messages = (root: string, subject: string) =>
    `find ${root} -type f \\( -path '*/Maildir/new/*' -o -path '*/Maildir/cur/*' \\) -exec grep -lF ${shellQuote(subject)} {} +`;
  /** The message of `mailbox` (local@domain) with `subject`, waiting up to 10 s; "" if none. */
  const delivered = (mailbox: string, subject: string): string => {
    const [local, domain] = mailbox.split("@");
    const root = `${VMAIL}/${domain}/${local}/Maildir`;
    const r = ssh(
      `for i in $(seq 50); do f=$(${messages(root, subject)} 2>/dev/null | head -1); [ -n "$f" ] && { cat "$f"; exit 0; }; sleep 0.2; done; exit 1`,
    );
    return r.code === 0 ? r.out : "";
  };
  /** Every message file that holds `subject`, in any mailbox. */
  const anywhere = (subject: string): string =>
    ssh(`${messages(VMAIL, subject)} 2>/dev/null || true`).out.trim();

  describe("mail: delivery", () => {
    it("to a mailbox lands in its Maildir", () => {
      const s = token();
      const t = fromOutside("alice@example.test", s);
      expect(t.code, t.out).toBe(0);
      expect(replies(t)).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued/));
      const msg = delivered("alice@example.test", s);
      expect(msg).toContain("Delivered-To: alice@example.test");
      expect(msg).toContain(`Subject: ${s}`);
    });

    it("to an alias lands in its destination, and only there", () => {
      const s = token();
      expect(fromOutside("sales@example.test", s).code).toBe(0);
      expect(delivered("alice@example.test", s)).toContain(`Subject: ${s}`);
      expect(anywhere(s).split("\n")).toHaveLength(1);
    });

    it("to any address of a catch-all domain lands in the catch-all's mailbox", () => {
      const s = token();
      expect(fromOutside(`x-${RUN}@example.org`, s).code).toBe(0);
      expect(delivered("frank@example.org", s)).toContain(`Subject: ${s}`);
    });

    it("to a plus address lands in the user's mailbox; an unknown user's plus address is refused", () => {
      const s = token();
      expect(fromOutside("alice+news@example.test", s).code).toBe(0);
      expect(delivered("alice@example.test", s)).toContain(`Subject: ${s}`);
      const t = fromOutside("nobody+news@example.test");
      expect(replies(t)).toContainEqual(expect.stringMatching(/^550 5\.1\.1 /));
    });

    it("to an unknown recipient is rejected at RCPT TO with 550 5.1.1", () => {
      const s = token();
      const t = fromOutside("nobody@example.test", s);
      expect(t.code).not.toBe(0);
      expect(replies(t)).toContainEqual(
        expect.stringMatching(/^550 5\.1\.1 <nobody@example\.test>: Recipient address rejected/),
      );
      // The catch-all of another domain does not apply here.
      expect(anywhere(s)).toBe("");
    });

    it("to an inactive domain is refused: it is no longer ours", () => {
      const s = token();
      const t = fromOutside("dave@old.example.test", s);
      expect(t.code).not.toBe(0);
      expect(replies(t)).toContainEqual(
        expect.stringMatching(/^554 5\.7\.1 <dave@old\.example\.test>: Relay/),
      );
      expect(anywhere(s)).toBe("");
    });
  });

  describe("mail: alias loops", () => {
    /** SQL as the database superuser, as an operator would write rows by hand. */
    const sql = (query: string) =>
      ssh(`cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d ${DATABASE_SPEC.database}`, query);
    const a = `loop-a-${RUN}@example.test`;
    const b = `loop-b-${RUN}@example.test`;
    const refusal = `<${a}>: Recipient address rejected: alias loop ${a} -> ${b} -> ${a}`;
    const literal = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

    it(
      "a loop written into the database is refused at RCPT TO for good (550 5.4.6, naming it), on 25 and 587; nothing is deferred",
      () => {
        // Config validation refuses loops at preview; rows written by hand bypass it.
        const insert = sql(
          `INSERT INTO virtual_aliases (domain_id, source, destination)
           SELECT d.id, v.s, v.d FROM (VALUES ('${a}', '${b}'), ('${b}', '${a}')) AS v (s, d)
           JOIN domains d ON d.domain_name = 'example.test';\n`,
        );
        expect(insert.code, insert.err).toBe(0);
        try {
          const s = token();
          const t = fromOutside(a, s);
          expect(t.code).not.toBe(0);
          // At RCPT TO: the data is never sent, and no 451 4.6.0 comes after it.
          expect(replies(t)).toContainEqual(`550 5.4.6 ${refusal}`);
          expect(replies(t)).not.toContainEqual(expect.stringMatching(/^354 /));
          expect(replies(t)).not.toContainEqual(expect.stringMatching(/^4\d\d /));

          // A logged-in user's mail to it, through Dovecot's relay to Postfix.
          const u = token();
          const sub = submit("alice@example.test", "alice-sandbox-pw", "alice@example.test", a, u);
          expect(sub.code).not.toBe(0);
          expect(replies(sub)).toContainEqual(expect.stringMatching(/^235 2\.7\.0 /));
          expect(replies(sub)).toContainEqual(
            // Dovecot's submission service passes on Postfix's answer, recipient first.
            expect.stringMatching(new RegExp(`^550 5\\.4\\.6 (<${literal(a)}> )?${literal(refusal)}$`)),
          );
          expect(replies(sub)).not.toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok/));

          // Nothing waits in the queue for it, and cleanup never met the loop.
          const queue = ssh("postqueue -p");
          expect(queue.code, queue.err).toBe(0);
          expect(queue.out).not.toContain(a);
          expect(ssh(`grep -cF ${shellQuote(`nesting for ${a}`)} /var/log/mail.log || true`).out.trim()).toBe(
            "0",
          );
          expect(anywhere(s)).toBe("");
          expect(anywhere(u)).toBe("");
        } finally {
          sql(`DELETE FROM virtual_aliases WHERE source IN ('${a}', '${b}');\n`);
        }
        expect(
          sql(`SELECT count(*) FROM virtual_aliases WHERE source IN ('${a}', '${b}');\n`).out.trim(),
        ).toBe("0");
      },
      STEP,
    );
  });

  describe("mail: internationalized mail", () => {
    /** Lines of the mail log that bounce for want of SMTPUTF8 (dsn=5.6.7). */
    const utf8Bounces = () =>
      Number(ssh("grep -c 'dsn=5\\.6\\.7' /var/log/mail.log || true").out.trim() || "0");

    it("a UTF-8 subject and display name from a client without SMTPUTF8 are delivered as sent", () => {
      const s = token();
      // Raw 8-bit UTF-8 in the headers, as mail clients without RFC 2047 send
      // it; otherwise a tidy message, so Rspamd files it in the inbox.
      const t = inbound(host, "alice@example.test", `${s} Grüße aus Köln`, [
        ...["--header", "From: Jürgen Müller <someone@outside.test>", "--header", "MIME-Version: 1.0"],
        ...["--header", "Content-Type: text/plain; charset=utf-8", "--body", "Äpfel und Öl"],
      ]);
      expect(t.code, t.out).toBe(0);
      const msg = delivered("alice@example.test", s);
      expect(msg).toContain(`Subject: ${s} Grüße aus Köln`);
      expect(msg).toContain("From: Jürgen Müller <someone@outside.test>");
      expect(msg).toContain("Äpfel und Öl");
    });

    it("a message that needs SMTPUTF8 is refused during the session, never accepted and bounced later", async () => {
      const s = token();
      const before = utf8Bounces();
      const script = path.join(ROOT, "test/helpers/fixtures/smtputf8.py");
      const r = tool("/usr/bin/python3", [script, host, "alice@example.test", s]);
      expect(r.code, r.out).toBe(0);
      // Dovecot 2.3's LMTP has no SMTPUTF8, so Postfix may not offer it:
      // what it accepted it could only bounce (5.6.7) after the session.
      expect(r.out).toMatch(/^offered: no$/m);
      expect(r.out).toMatch(/^refused: 5\d\d /m);
      await new Promise((done) => setTimeout(done, 3000));
      expect(utf8Bounces()).toBe(before);
      expect(anywhere(s)).toBe("");
      expect(ssh("postqueue -j").out).not.toContain("outside.test");
    });
  });

  describe("mail: relay and sending rights", () => {
    it("refuses to relay for a client from outside, on port 25 and on 587 without a login", () => {
      const t = fromOutside("someone@elsewhere.test");
      expect(t.code).not.toBe(0);
      expect(replies(t)).toContainEqual(expect.stringMatching(/^554 5\.7\.1 .*Relay access denied/));
      const sub = swaks([
        ...["--port", "587", "--tls", "--from", "someone@outside.test", "--to", "someone@elsewhere.test"],
      ]);
      expect(sub.code).not.toBe(0);
      expect(replies(sub)).toContainEqual(expect.stringMatching(/^530 5\.7\.0 Authentication required/));
      expect(replies(sub)).not.toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued/));
    });

    it("refuses a logged-in user sending as someone else", () => {
      const s = token();
      const t = submit("alice@example.test", "alice-sandbox-pw", "bob@example.test", "bob@example.test", s);
      expect(t.code).not.toBe(0);
      expect(replies(t)).toContainEqual(expect.stringMatching(/^235 2\.7\.0 /));
      expect(replies(t)).toContainEqual(
        // Dovecot's submission service passes on Postfix's answer, recipient first.
        expect.stringMatching(
          /^553 5\.7\.1 (<bob@example\.test> )?<bob@example\.test>: Sender address rejected: not owned by user alice@example\.test$/,
        ),
      );
      expect(anywhere(s)).toBe("");
    });

    it("lets a logged-in user send as an address granted to them", () => {
      const s = token();
      const t = submit("alice@example.test", "alice-sandbox-pw", "sales@example.test", "bob@example.test", s);
      expect(t.code, t.out).toBe(0);
      expect(delivered("bob@example.test", s)).toContain("From: sales@example.test");
    });
  });

  describe("mail: submission logins", () => {
    it("587 after STARTTLS: the right password sends, and the client's address is not in the headers", () => {
      const s = token();
      const t = submit("alice@example.test", "alice-sandbox-pw", "alice@example.test", "bob@example.test", s);
      expect(t.code, t.out).toBe(0);
      expect(replies(t)).toContainEqual(expect.stringMatching(/^235 2\.7\.0 /));
      const msg = delivered("bob@example.test", s);
      expect(msg).toContain(`Subject: ${s}`);
      // Only Dovecot's LMTP Received header is left; the submission one named the client.
      expect(msg).not.toMatch(/with ESMTPS?A/);
      expect(msg).not.toContain("10.213.0.1");
    });

    it("465 with implicit TLS: the right password sends", () => {
      const s = token();
      const t = submit(
        "alice@example.test",
        "alice-sandbox-pw",
        "alice@example.test",
        "bob@example.test",
        s,
        465,
      );
      expect(t.code, t.out).toBe(0);
      expect(delivered("bob@example.test", s)).toContain(`Subject: ${s}`);
    });

    it("a wrong password is refused with 535 and sends nothing", () => {
      const s = token();
      const t = submit("alice@example.test", "not-alice-pw", "alice@example.test", "bob@example.test", s);
      expect(t.code).not.toBe(0);
      expect(replies(t)).toContainEqual(expect.stringMatching(/^535 5\.7\.8 /));
      expect(replies(t)).not.toContainEqual(expect.stringMatching(/^235 /));
      expect(anywhere(s)).toBe("");
    });

    it("587 and 465 are Dovecot's; Postfix takes its relayed mail on loopback only", () => {
      const listeners = ssh("ss -Hltnp '( sport = :587 or sport = :465 or sport = :10587 )'")
        .out.split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => {
          const local = l.trim().split(/\s+/)[3] ?? "";
          // Postfix's master owns its listener; an smtpd may hold it too.
          const names = [...l.matchAll(/\("([^"]+)"/g)].map((m) => m[1]);
          const proc = names.includes("master") ? "master" : (names[0] ?? "?");
          return `${local.replace(/^(0\.0\.0\.0|\*|\[::\]):/, "*:")} ${proc}`;
        });
      expect([...new Set(listeners)].sort()).toEqual([
        "*:465 dovecot",
        "*:587 dovecot",
        "127.0.0.1:10587 master",
      ]);
    });

    it("no AUTH without TLS: 587 offers it only after STARTTLS, port 25 never", () => {
      // The right password: if the server offered AUTH in the clear, this would succeed.
      const plain = swaks([
        ...["--port", "587", "--auth", "PLAIN", "--auth-user", "alice@example.test"],
        ...[
          "--auth-password",
          "alice-sandbox-pw",
          "--from",
          "alice@example.test",
          "--to",
          "bob@example.test",
        ],
      ]);
      expect(plain.code).not.toBe(0);
      expect(plain.out).toContain("Host did not advertise authentication");
      expect(replies(plain)).toContainEqual("250-STARTTLS");
      expect(replies(plain).some((l) => l.includes("AUTH"))).toBe(false);
      const mx = swaks([
        ...["--port", "25", "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.test"],
        ...[
          "--auth-password",
          "alice-sandbox-pw",
          "--from",
          "alice@example.test",
          "--to",
          "bob@example.test",
        ],
      ]);
      expect(mx.code).not.toBe(0);
      expect(mx.out).toContain("Host did not advertise authentication");
    });
  });

  describe("mail: mailbox access", () => {
    const curl = (url: string, user: string, password: string, extra: readonly string[] = []) =>
      tool("curl", ["-sS", "--insecure", "--max-time", "20", "-u", `${user}:${password}`, ...extra, url]);

    it(
      "IMAPS: alice logs in, finds her message and fetches it; a wrong password is refused",
      () => {
        const s = token();
        expect(fromOutside("alice@example.test", s).code).toBe(0);
        expect(delivered("alice@example.test", s)).not.toBe("");
        const search = curl(`imaps://${host}/INBOX`, "alice@example.test", "alice-sandbox-pw", [
          "-X",
          `UID SEARCH SUBJECT "${s}"`,
        ]);
        expect(search.code, search.out).toBe(0);
        const uid = /^\* SEARCH (\d+)\s*$/m.exec(search.out)?.[1];
        expect(uid, search.out).toMatch(/^\d+$/);
        const fetched = curl(`imaps://${host}/INBOX;UID=${uid}`, "alice@example.test", "alice-sandbox-pw");
        expect(fetched.code, fetched.out).toBe(0);
        expect(fetched.out).toContain(`Subject: ${s}`);
        const wrong = curl(`imaps://${host}/INBOX`, "alice@example.test", "not-alice-pw", ["-X", "NOOP"]);
        // curl's 67: the server refused the login.
        expect(wrong.code).toBe(67);
      },
      STEP,
    );

    it("POP3S: alice lists her messages; a wrong password is refused", () => {
      const list = curl(`pop3s://${host}/`, "alice@example.test", "alice-sandbox-pw");
      expect(list.code, list.out).toBe(0);
      expect(list.out).toMatch(/^1 \d+\r?$/m);
      expect(curl(`pop3s://${host}/`, "alice@example.test", "not-alice-pw").code).toBe(67);
    });

    it("POP3S: alice retrieves a message whole", () => {
      const subject = token();
      expect(replies(fromOutside("alice@example.test", subject))).toContainEqual(
        expect.stringMatching(/^250 2\.0\.0 Ok: queued/),
      );
      expect(delivered("alice@example.test", subject)).toContain(subject);
      const list = curl(`pop3s://${host}/`, "alice@example.test", "alice-sandbox-pw");
      const last = list.out.trim().split("\n").at(-1)?.split(" ")[0] ?? "";
      const message = curl(`pop3s://${host}/${last}`, "alice@example.test", "alice-sandbox-pw");
      expect(message.code, message.out).toBe(0);
      expect(message.out).toContain(`Subject: ${subject}`);
    });

    it("only the TLS ports listen: IMAPS and POP3S, not IMAP 143 nor POP3 110", () => {
      const ports = ssh("ss -Hltn '( sport = :143 or sport = :110 or sport = :993 or sport = :995 )'")
        .out.split("\n")
        .map((l) => /:(\d+)\s/.exec(l)?.[1])
        .filter((p): p is string => p !== undefined);
      expect([...new Set(ports)].sort()).toEqual(["993", "995"]);
    });
  });

  describe("mail: mailbox features", () => {
    it("a mailbox over its quota (quinn, 2K) refuses delivery with 552 5.2.2 and stores nothing", () => {
      const subject = token();
      const big = tool("swaks", [
        ...["--server", host, "--timeout", "20", "--port", "25"],
        ...[
          "--from",
          // The null sender: the bounce this provokes goes nowhere, so none is queued.
          "<>",
          "--to",
          "quinn@example.test",
          "--header",
          `Subject: ${subject}`,
        ],
        ...["--body", "x".repeat(4096)],
      ]);
      // Postfix accepts from the client, then Dovecot refuses it at LMTP and Postfix bounces.
      expect(replies(big)).toContainEqual(expect.stringMatching(/^250 2\.0\.0 Ok: queued/));
      const log = ssh(
        `for i in $(seq 50); do l=$(grep -F 'to=<quinn@example.test>' /var/log/mail.log | grep -F 'dsn=5.2.2' | tail -1); [ -n "$l" ] && { echo "$l"; exit 0; }; sleep 0.2; done; exit 1`,
      );
      expect(log.code, "no bounce for quinn in mail.log").toBe(0);
      expect(log.out).toContain("552 5.2.2 <quinn@example.test> Quota exceeded");
      expect(anywhere(subject)).toBe("");
    });

    it("a Sieve rule files a message into a folder; others stay in the inbox", () => {
      const home = `${VMAIL}/example.test/bob`;
      const rule =
        'require ["fileinto", "mailbox"];\nif header :contains "subject" "[filed]" { fileinto :create "Filed"; }\n';
      expect(
        ssh(
          `install -d -o vmail -g vmail ${home} && install -o vmail -g vmail -m 0600 /dev/stdin ${home}/.dovecot.sieve`,
          rule,
        ).code,
      ).toBe(0);
      try {
        const filed = `[filed] ${token()}`;
        const plain = token();
        expect(replies(fromOutside("bob@example.test", filed))).toContainEqual(
          expect.stringMatching(/^250 2\.0\.0 Ok: queued/),
        );
        expect(replies(fromOutside("bob@example.test", plain))).toContainEqual(
          expect.stringMatching(/^250 2\.0\.0 Ok: queued/),
        );
        expect(delivered("bob@example.test", plain)).toContain(plain);
        const where = ssh(
          `for i in $(seq 50); do f=$(grep -lF ${shellQuote(filed)} ${home}/Maildir/.Filed/new/* 2>/dev/null | head -1); [ -n "$f" ] && { echo "$f"; exit 0; }; sleep 0.2; done; exit 1`,
        );
        expect(where.code, "the filed message is not in bob's Filed folder").toBe(0);
        expect(
          ssh(`grep -lF ${shellQuote(filed)} ${home}/Maildir/new/* 2>/dev/null || true`).out.trim(),
        ).toBe("");
      } finally {
        ssh(`rm -f ${home}/.dovecot.sieve ${home}/.dovecot.svbin`);
      }
    });

    it("ManageSieve is off: nothing listens on 4190", () => {
      expect(ssh("ss -Hltn 'sport = :4190'").out.trim()).toBe("");
    });
  });
}
