// Mail hygiene against the deployed sandbox: only modern TLS on every mail
// port, postscreen turning away a client that talks before the greeting, and,
// last, a mail log free of errors and warnings other than the ones this
// suite provokes on purpose. test/sandbox/e2e.test.ts calls registerHygieneTests
// after every other case, so the log check sees the whole run. Clients run on
// this machine (openssl s_client, a raw socket for the pregreet bot) against
// the sandbox host only.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { MAIL_LOG } from "../../src/core/host-layout";
import { shellQuote } from "../../src/core/push";
import { type AllowedLogLine, MAIL_LOG_ALLOWED, unexpectedLogLines } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 60_000;
const RUN = randomBytes(4).toString("hex");

interface Handshake {
  readonly code: number | null;
  readonly out: string;
}

/** One TLS handshake with openssl s_client, bounded; stdin closed so it ends right after. */
function handshake(host: string, port: number, version: string, starttls: boolean): Handshake {
  const args = ["s_client", "-connect", `${host}:${port}`, `-${version}`, "-brief"];
  if (starttls) args.push("-starttls", "smtp");
  // OpenSSL 3 refuses TLS 1.0/1.1 itself above security level 0: lower it,
  // so a failure can only be the server's refusal.
  if (version === "tls1" || version === "tls1_1") args.push("-cipher", "DEFAULT:@SECLEVEL=0");
  const r = spawnSync("openssl", args, { encoding: "utf8", input: "", timeout: 20_000 });
  if (r.error) throw new Error(`openssl could not run (${r.error.message}); apt-get install openssl`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * A spam bot's opening, run on the mail host itself: it connects to `host`
 * port 25 from the host's own address (not in mynetworks, and never a client
 * of the other cases, so postscreen has no pass cached for it), sends EHLO
 * the moment the connection opens, before the greeting has ended, then tries
 * to deliver. Prints the server's reply lines. Each read waits at most 20 s.
 */
function pregreetBot(host: string, helo: string): string {
  return `exec 3<>/dev/tcp/${host}/25 || exit 1
printf 'EHLO ${helo}\\r\\n' >&3
# Reply lines up to the final one (code and a space) that matches $1.
upto() { local l; while IFS= read -r -t 20 l <&3; do l=\${l%$'\\r'}; echo "$l"; [[ $l =~ ^$1\\  ]] && return 0; done; return 1; }
upto '(250|[45][0-9][0-9])' || exit 1
printf 'MAIL FROM:<bot@outside.test>\\r\\n' >&3; upto '[0-9]{3}' || exit 1
printf 'RCPT TO:<alice@example.test>\\r\\n' >&3; upto '[0-9]{3}' || exit 1
printf 'QUIT\\r\\n' >&3; upto '[0-9]{3}'
`;
}

/**
 * TLS versions, the postscreen pregreet case and, last, the mail log check.
 * `extraAllowed` adds log lines that other registered cases provoke on purpose.
 */
export function registerHygieneTests(
  ssh: SandboxSsh,
  host: string,
  extraAllowed: readonly AllowedLogLine[] = [],
): void {
  // Where the run starts in the mail log: a line through its one writer. The
  // check reads from there on, across the rotations the suite forces
  // (mail.log.N.gz, ..., mail.log.1, then mail.log); a longer-lived sandbox
  // keeps older lines. A fresh host has no rsyslog yet when the run starts,
  // so no marker: then its whole log is the run's.
  const marker = `mailstack-e2e-start-${randomBytes(4).toString("hex")}`;
  beforeAll(() => {
    const r = ssh(`logger -p mail.info -t mailstack-e2e ${marker}`);
    if (r.code !== 0) throw new Error(`logger failed: ${r.err}`);
  });

  describe("hygiene: TLS versions", () => {
    const ports = [
      { port: 25, starttls: true, what: "SMTP, STARTTLS" },
      { port: 587, starttls: true, what: "submission, STARTTLS" },
      { port: 465, starttls: false, what: "submission, implicit TLS" },
      { port: 993, starttls: false, what: "IMAPS" },
      { port: 995, starttls: false, what: "POP3S" },
    ];
    for (const p of ports) {
      it(
        `${p.port} (${p.what}): TLS 1.0 and 1.1 are refused, TLS 1.2 and 1.3 work`,
        () => {
          for (const v of ["tls1", "tls1_1"]) {
            const h = handshake(host, p.port, v, p.starttls);
            expect(h.code, `${v} on ${p.port}:\n${h.out}`).not.toBe(0);
            expect(h.out, `${v} on ${p.port}`).not.toContain("CONNECTION ESTABLISHED");
            // The server refused (an alert or a closed connection), not our own OpenSSL.
            expect(h.out, `${v} on ${p.port}`).toMatch(/alert protocol version|unexpected eof while reading/);
          }
          for (const [v, name] of [
            ["tls1_2", "TLSv1.2"],
            ["tls1_3", "TLSv1.3"],
          ] as const) {
            const h = handshake(host, p.port, v, p.starttls);
            expect(h.out, `${v} on ${p.port}`).toContain("CONNECTION ESTABLISHED");
            expect(h.out, `${v} on ${p.port}`).toContain(`Protocol version: ${name}`);
          }
        },
        STEP,
      );
    }
  });

  describe("hygiene: postscreen", () => {
    it(
      "a client that talks before the greeting is logged as PREGREET and cannot deliver",
      () => {
        const helo = `pregreet-${RUN}.example`;
        const bot = ssh("timeout 90 bash -s", pregreetBot(host, helo));
        const replies = bot.out.split("\n").filter((l) => /^\d{3}[ -]/.test(l));
        const transcript = `${bot.out}${bot.err}`;
        // postscreen's multi-line greeting: the bot spoke after its first line.
        expect(replies[0], transcript).toMatch(/^220-/);
        // Its RCPT is refused and nothing is queued.
        expect(replies, transcript).toContainEqual(expect.stringMatching(/^550 /));
        expect(replies, transcript).not.toContainEqual(expect.stringMatching(/^250 2\.1\.5 /));
        expect(replies, transcript).not.toContainEqual(expect.stringMatching(/^354 /));
        const logged = ssh(
          `for i in $(seq 25); do grep -F ${shellQuote(helo)} ${MAIL_LOG} | grep -E 'postscreen\\[[0-9]+\\]: (PREGREET|NOQUEUE)' && exit 0; sleep 0.2; done; exit 1`,
        );
        expect(logged.code, `no postscreen line for ${helo} in ${MAIL_LOG}`).toBe(0);
        expect(logged.out).toMatch(
          new RegExp(
            `postfix/postscreen\\[\\d+\\]: PREGREET \\d+ after [\\d.]+ from \\[[^\\]]+\\]:\\d+: EHLO ${helo}`,
          ),
        );
      },
      STEP,
    );
  });

  describe("hygiene: the mail log", () => {
    it(
      "has no errors or warnings after the suite, other than the ones it provokes on purpose",
      () => {
        const r = ssh(
          `{ for n in $(ls ${MAIL_LOG}.* 2>/dev/null | sed -n 's/.*\\.log\\.\\([0-9]*\\)\\(\\.gz\\)\\{0,1\\}$/\\1/p' | sort -rn); do f=${MAIL_LOG}.$n; [ -e "$f" ] || f=$f.gz; zcat -f "$f"; done; cat ${MAIL_LOG}; } >/tmp/mailstack-e2e-log; if grep -q 'mailstack-e2e: ${marker}$' /tmp/mailstack-e2e-log; then sed -n '/mailstack-e2e: ${marker}$/,$p' /tmp/mailstack-e2e-log; else cat /tmp/mailstack-e2e-log; fi; rm -f /tmp/mailstack-e2e-log`,
        );
        expect(r.code, r.err).toBe(0);
        // The run must have logged something, or the check would pass on nothing.
        expect(r.out).toMatch(/postfix\/\S+\[\d+\]: /);
        const bad = unexpectedLogLines(r.out, [...MAIL_LOG_ALLOWED, ...extraAllowed]);
        expect(
          bad.length,
          `${bad.length} unexpected error/warning lines in ${MAIL_LOG}:\n${bad.slice(0, 40).join("\n")}`,
        ).toBe(0);
      },
      STEP,
    );
  });
}
