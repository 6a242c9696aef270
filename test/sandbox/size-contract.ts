// The message size limit against the deployed sandbox (mailstack:messageSizeLimit):
// a 25 MiB attachment of random bytes goes through port 25, 587 and 465 and
// comes back over IMAP byte for byte; a message of the size 587 and 465
// announce (the limit less 1024) passes Dovecot there and then Postfix's
// loopback relay, Rspamd and clamd (their 1 MiB margin); one byte over the
// limit gets 552 on every port, and so does 2 MiB over on 587 and 465, which
// Dovecot 2.3.19 with a limit of its own dropped with no reply (its
// submission-login crashing; README, "Message size"). The daemons are all still there
// afterwards, with no crash in the mail log. Each message is built here, CRLF
// and all, and sent by swaks unchanged (--no-data-fixup), so its size on the
// wire is known to the byte.
// test/sandbox/e2e.test.ts calls registerSizeTests after the filter tests.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLAMD_SOCKET, MAIL_LOG, SUBMISSION_SIZE_ALLOWANCE } from "../../src/core/host-layout";
import { type Client, replies, tool } from "../helpers/mail-clients";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

/** Sending, scanning and storing some 36 MB takes a while on the sandbox's two cores. */
const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");
const ALICE = { user: "alice@example.test", password: "alice-sandbox-pw" };
const ATTACHMENT_BYTES = 25 * 2 ** 20;

/**
 * The lines the oversized message on port 25 makes Postfix log: smtpd stops
 * copying it into the queue file. Nothing else about sizes may show up.
 */
export const SIZE_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern: /postfix\/smtpd\[\d+\]: warning: (\w+|NOQUEUE): queue file size limit exceeded$/,
    why: "a message one byte over the size limit, sent to port 25 on purpose",
  },
  {
    // cleanup's side of the same refusal: smtpd stopped the stream mid-message.
    pattern: /postfix\/(sub)?cleanup\[\d+\]: warning: mail_stream_cleanup: close error$/,
    why: "the queue file of the message over the limit, dropped by cleanup",
  },
  {
    // Postfix's loopback relay holds 587 and 465 to the limit: the whole
    // message in one piece, or a BDAT chunk from Dovecot that goes over.
    pattern:
      /postfix\/submission\/smtpd\[\d+\]: warning: \w+: (queue file size limit exceeded|BDAT request from \S+ exceeds message size limit)$/,
    why: "messages over the size limit, sent to 587 and 465 on purpose",
  },
  {
    // Dovecot passes the relay's refusal on and logs it at Info level,
    // quoting the reply, whose text may say "Error".
    pattern:
      /submission\([^)]+\)<\d+><[^>]+>: (Info: )?Failed to relay message: .*reply=`552 5\.3\.4 (Error: message file too big|Chunk exceeds message size limit)'$/,
    why: "Dovecot passing the relay's 552 on for messages over the size limit",
  },
];

/** Accepted: Postfix says "Ok: queued as ID"; Dovecot's submission relays it as "Ok: N bytes queued as ID". */
const QUEUED = /^250 2\.0\.0 Ok: (\d+ bytes )?queued as [0-9A-F]+$/;

/** A crash or a daemon's death in the mail log. */
const CRASH = /\b(Panic|Fatal):|\bfatal:|killed with signal|\bpanic:/;

type Port = 25 | 587 | 465;

/** `text` wrapped in CRLF-terminated lines of at most 76 characters, as MIME wants base64. */
function lines76(text: string): string {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 76) out.push(`${text.slice(i, i + 76)}\r\n`);
  return out.join("");
}

/** A message's header block (with the blank line that ends it). */
function headers(from: string, subject: string, extra: readonly string[] = []): string {
  return [
    `From: <${from}>`,
    `To: <${ALICE.user}>`,
    `Subject: ${subject}`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <${subject}@size.example.test>`,
    "MIME-Version: 1.0",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** A multipart message with `data` attached in base64; its exact text. Pure. */
export function withAttachment(from: string, subject: string, data: Buffer): string {
  const b = `b-${subject}`;
  return [
    headers(from, subject, [`Content-Type: multipart/mixed; boundary="${b}"`]),
    `--${b}\r\n`,
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
    "25 MiB of random bytes, attached.\r\n",
    `--${b}\r\n`,
    "Content-Type: application/octet-stream\r\n",
    'Content-Disposition: attachment; filename="random.bin"\r\n',
    "Content-Transfer-Encoding: base64\r\n\r\n",
    lines76(data.toString("base64")),
    `--${b}--\r\n`,
  ].join("");
}

/** The base64 attachment of a fetched message, decoded; undefined when there is none. Pure. */
export function attachmentOf(message: string): Buffer | undefined {
  const part = message.indexOf('filename="random.bin"');
  if (part < 0) return undefined;
  // The part's body starts after its blank line and ends at the closing boundary.
  const blank = /\r?\n\r?\n/.exec(message.slice(part, part + 200));
  if (!blank) return undefined;
  const start = part + blank.index + blank[0].length;
  const end = message.indexOf("\n--b-", start);
  if (end < 0) return undefined;
  const base64 = message.slice(start, end).replace(/[\r\n]/g, "");
  return /^[A-Za-z0-9+/]*={0,2}$/.test(base64) ? Buffer.from(base64, "base64") : undefined;
}

/**
 * A plain message of exactly `bytes` bytes (CRLF line ends, none starting with
 * a dot, so nothing is dot-stuffed on the wire): the headers, then lines of
 * 76 characters, the last one cut to fit. Pure.
 */
export function sized(from: string, subject: string, bytes: number): string {
  const head = headers(from, subject);
  let body = bytes - head.length;
  if (body < 0) throw new Error(`${bytes} bytes cannot hold the headers`);
  const line = `${"A".repeat(76)}\r\n`;
  let full = Math.floor(body / line.length);
  body -= full * line.length;
  // A line is at least its CRLF: with one byte left over, the last line is one longer.
  if (body === 1) {
    full -= 1;
    body += line.length;
  }
  const last = body === 0 ? "" : `${"B".repeat(body - 2)}\r\n`;
  const text = head + line.repeat(full) + last;
  if (text.length !== bytes) throw new Error(`built ${text.length} bytes, not ${bytes}`);
  return text;
}

export function registerSizeTests(ssh: SandboxSsh, host: string, limit: number): void {
  let n = 0;
  const token = () => `mailstack-size-${RUN}-${++n}`;
  let tmp = "";
  // Where the mail log stood before these tests: the crash check reads only what they wrote.
  let logStart = 0;

  // A top-level beforeAll runs before every test of the e2e file, so the
  // position is taken when the first of these tests starts.
  const markLogStart = () => {
    if (tmp) return;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-size-"));
    const size = ssh(`stat -c %s ${MAIL_LOG} 2>/dev/null || echo 0`).out.trim();
    logStart = /^\d+$/.test(size) ? Number(size) : 0;
  };
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The From of a message on `port`: a login may only send as itself. */
  const fromFor = (port: Port) => (port === 25 ? "someone@outside.test" : ALICE.user);

  /**
   * `message` to alice through `port`: from outside on 25, as alice with a
   * login on 587 (STARTTLS) and 465 (TLS from the first byte). swaks sends
   * the text unchanged and only summarises it in its transcript.
   */
  const send = (port: Port, message: string): Client => {
    const args = [
      ...["--server", host, "--port", String(port), "--timeout", "240"],
      ...(port === 587 ? ["--tls"] : port === 465 ? ["--tls-on-connect"] : []),
      ...(port === 25
        ? []
        : ["--auth", "PLAIN", "--auth-user", ALICE.user, "--auth-password", ALICE.password]),
      ...["--from", fromFor(port), "--to", ALICE.user],
      ...["--data", "-", "--no-data-fixup", "--suppress-data"],
    ];
    // The end of DATA is ours to write, as --no-data-fixup adds nothing.
    const r = spawnSync("swaks", args, {
      input: `${message}.\r\n`,
      encoding: "utf8",
      timeout: STEP - 30_000,
      maxBuffer: 16 * 2 ** 20,
    });
    if (r.error) throw new Error(`swaks could not run (${r.error.message}); apt-get install swaks`);
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  /**
   * Alice's message with `subject` fetched over IMAPS into a file, waiting up
   * to 2 minutes for delivery; its text, or "" if it never came.
   */
  const fetch = (subject: string): string => {
    const imap = (url: string, extra: readonly string[]) =>
      tool("curl", [
        ...["-sS", "--insecure", "--max-time", "120", "-u", `${ALICE.user}:${ALICE.password}`],
        ...extra,
        url,
      ]);
    for (let i = 0; i < 60; i++) {
      const search = imap(`imaps://${host}/INBOX`, ["-X", `UID SEARCH SUBJECT "${subject}"`]);
      const uid = /^\* SEARCH (\d+)\s*$/m.exec(search.out)?.[1];
      if (uid !== undefined) {
        const file = path.join(tmp, `${subject}.eml`);
        const got = imap(`imaps://${host}/INBOX;UID=${uid}`, ["-o", file]);
        expect(got.code, got.out).toBe(0);
        return fs.readFileSync(file, "latin1");
      }
      spawnSync("sleep", ["2"]);
    }
    return "";
  };

  describe("message size: a 25 MiB attachment arrives whole on every port", () => {
    beforeAll(markLogStart);
    const data = randomBytes(ATTACHMENT_BYTES);
    const sha = createHash("sha256").update(data).digest("hex");

    it("fits the limit with room for the headers", () => {
      const message = withAttachment(ALICE.user, "x", data);
      // 25 MiB in base64 with CRLF every 76 characters: 35872340 bytes, and the rest.
      expect(message.length).toBeGreaterThan(35872340);
      expect(message.length).toBeLessThan(limit);
      expect(
        createHash("sha256")
          .update(attachmentOf(message) ?? Buffer.alloc(0))
          .digest("hex"),
      ).toBe(sha);
    });

    for (const port of [25, 587, 465] as const) {
      it(
        `port ${port}: accepted, delivered, and the attachment's sha256 is unchanged over IMAP`,
        () => {
          const s = token();
          const t = send(port, withAttachment(fromFor(port), s, data));
          expect(t.code, t.out).toBe(0);
          expect(replies(t)).toContainEqual(expect.stringMatching(QUEUED));
          const fetched = fetch(s);
          expect(fetched, "delivered").toContain(`Subject: ${s}`);
          const got = attachmentOf(fetched);
          expect(got?.length).toBe(ATTACHMENT_BYTES);
          expect(
            createHash("sha256")
              .update(got ?? Buffer.alloc(0))
              .digest("hex"),
          ).toBe(sha);
        },
        STEP,
      );
    }
  });

  describe("message size: the limit holds on every port", () => {
    beforeAll(markLogStart);
    for (const port of [587, 465] as const) {
      it(
        `port ${port}: a message of the size announced (the limit less 1024) passes Dovecot and everything behind it`,
        () => {
          const s = token();
          const t = send(port, sized(fromFor(port), s, limit - SUBMISSION_SIZE_ALLOWANCE));
          expect(t.code, t.out).toBe(0);
          expect(replies(t)).toContainEqual(expect.stringMatching(QUEUED));
          expect(fetch(s)).toContain(`Subject: ${s}`);
        },
        STEP,
      );
    }

    // Postfix counts its own header and the envelope too, and on 587 and 465
    // Dovecot's trace header, so one byte over is over everywhere; 2 MiB over
    // is past the 1 MiB beyond which Dovecot 2.3.19's own limit dropped the
    // connection.
    const cases = [
      [25, 1, "one byte"],
      [587, 1, "one byte"],
      [465, 1, "one byte"],
      [587, 2 * 2 ** 20, "2 MiB"],
      [465, 2 * 2 ** 20, "2 MiB"],
    ] as const;
    for (const [port, excess, words] of cases) {
      it(
        `port ${port}: ${words} over the limit gets 552 and is not delivered`,
        () => {
          const s = token();
          const t = send(port, sized(fromFor(port), s, limit + excess));
          expect(t.code, t.out).not.toBe(0);
          expect(replies(t)).toContainEqual(
            port === 25 ? expect.stringMatching(/^552 5\.3\.4 /) : expect.stringMatching(/^552 /),
          );
          expect(replies(t)).not.toContainEqual(expect.stringMatching(QUEUED));
          const found = ssh(
            `grep -rlF ${JSON.stringify(`Subject: ${s}`)} /var/vmail/example.test/alice/Maildir 2>/dev/null || true`,
          );
          expect(found.out.trim()).toBe("");
        },
        STEP,
      );
    }

    it("afterwards every daemon still runs, 587 still takes mail, and the mail log shows no crash", () => {
      expect(ssh("postfix status").code).toBe(0);
      expect(ssh("pgrep -x dovecot >/dev/null").code).toBe(0);
      expect(ssh(`test -S ${CLAMD_SOCKET}`).code).toBe(0);
      const listening = ssh(
        "ss -Hltn '( sport = :25 or sport = :465 or sport = :587 or sport = :11332 )'",
      ).out;
      for (const p of [25, 465, 587, 11332]) expect(listening, String(p)).toMatch(new RegExp(`:${p}\\s`));
      const s = token();
      const t = send(587, sized(ALICE.user, s, 4096));
      expect(t.code, t.out).toBe(0);
      expect(fetch(s)).toContain(`Subject: ${s}`);
      const log = ssh(`tail -c +${logStart + 1} ${MAIL_LOG}`).out;
      expect(log.split("\n").filter((l) => CRASH.test(l))).toEqual([]);
    });
  });
}
