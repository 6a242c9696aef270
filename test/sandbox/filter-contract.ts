// Filtering against the deployed sandbox: Rspamd as Postfix's milter, ClamAV
// behind it, Sieve filing marked mail into Junk and IMAPSieve training Bayes
// when a user moves mail. Clients run on this machine: swaks for SMTP, curl for
// IMAP. test/sandbox/e2e.test.ts calls registerFilterTests after the mail tests.

import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eicar } from "../../src/concerns/filter/clamav";
import { CLAMD_SOCKET, RSPAMD_CONTROLLER, RSPAMD_MILTER } from "../../src/core/host-layout";
import { shellQuote } from "../../src/core/push";
import { inbound, replies, tool } from "../helpers/mail-clients";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 60_000;
const RUN = randomBytes(4).toString("hex");
const BOB = { user: "bob@example.test", password: "bob-sandbox-pw", home: "/var/vmail/example.test/bob" };
// GTUBE, whose plain form Rspamd always rejects, and its add-header variant
// (mailstack:spamTestPatterns), spelled out of pieces so no filter flags this file.
const GTUBE_TAIL = "JS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
const GTUBE = `X${GTUBE_TAIL}`;
const GTUBE_ADD_HEADER = `Y${GTUBE_TAIL}`;

export function registerFilterTests(ssh: SandboxSsh, host: string): void {
  let n = 0;
  const token = () => `filter-${RUN}-${++n}`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-filter-"));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  /** Mail from outside to bob on port 25. */
  const toBob = (subject: string, extra: readonly string[]) => inbound(host, BOB.user, subject, extra, 30);
  /** The folder (INBOX, Junk, ...) of bob's message with `subject`, waiting up to 10 s; "" if none. */
  const folderOf = (subject: string): string => {
    const r = ssh(
      `for i in $(seq 50); do f=$(grep -rlF ${shellQuote(subject)} ${BOB.home}/Maildir --include='*' 2>/dev/null | grep -E '/(new|cur)/' | head -1); [ -n "$f" ] && { echo "$f"; exit 0; }; sleep 0.2; done; exit 1`,
    );
    if (r.code !== 0) return "";
    const rel = r.out.trim().slice(`${BOB.home}/Maildir/`.length);
    return rel.startsWith(".") ? rel.slice(1, rel.indexOf("/")) : "INBOX";
  };
  /** Bob's IMAP session over curl, with one command; its untagged replies. */
  const imap = (mailbox: string, cmd: string) =>
    tool("curl", [
      ...["-sS", "--insecure", "--max-time", "30", "-u", `${BOB.user}:${BOB.password}`],
      ...[`imaps://${host}/${mailbox}`, "-X", cmd],
    ]);
  /** How many messages Rspamd's Bayes has learned as spam or ham. */
  const learned = (): Record<"spam" | "ham", number> => {
    const r = ssh(`rspamc -h ${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port} stat`);
    expect(r.code, r.err).toBe(0);
    const count = (sym: string) =>
      Number(new RegExp(`Statfile: ${sym} .*?learned: (\\d+)`).exec(r.out.replace(/\n/g, " "))?.[1] ?? NaN);
    return { spam: count("BAYES_SPAM"), ham: count("BAYES_HAM") };
  };

  /**
   * The counts once `done` holds, or after two minutes: Rspamd refreshes the
   * statistics it reports from Redis periodically, not on each learn.
   */
  const learnedUntil = async (
    done: (l: Record<"spam" | "ham", number>) => boolean,
  ): Promise<Record<"spam" | "ham", number>> => {
    let l = learned();
    for (let i = 0; i < 60 && !done(l); i++) {
      await new Promise((r) => setTimeout(r, 2000));
      l = learned();
    }
    return l;
  };

  describe("filter: the services", () => {
    it("the milter, the controller and Redis listen on loopback only; clamd on its socket", () => {
      const r = ssh(
        `ss -Hltn '( sport = :${RSPAMD_MILTER.port} or sport = :${RSPAMD_CONTROLLER.port} or sport = :6379 )'`,
      );
      const local = r.out
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => l.trim().split(/\s+/)[3] ?? "");
      expect(local.length).toBeGreaterThanOrEqual(3);
      for (const a of local) expect(a).toMatch(/^(127\.0\.0\.1|\[::1\]):\d+$/);
      expect(ssh(`test -S ${CLAMD_SOCKET} && echo up`).out.trim()).toBe("up");
    });
  });

  describe("filter: spam and viruses", () => {
    it(
      "GTUBE is rejected at the end of DATA (spamActions: reject) and stored nowhere",
      () => {
        const s = token();
        const t = toBob(s, ["--body", `GTUBE test\n${GTUBE}\n`]);
        expect(t.code).not.toBe(0);
        expect(replies(t)).toContainEqual(expect.stringMatching(/^554 5\.7\.1 /));
        expect(folderOf(s)).toBe("");
      },
      STEP,
    );

    it(
      "GTUBE's add-header variant is delivered into Junk, marked X-Spam: Yes",
      () => {
        const s = token();
        const t = toBob(s, ["--body", `GTUBE add header test\n${GTUBE_ADD_HEADER}\n`]);
        expect(t.code, t.out).toBe(0);
        expect(folderOf(s)).toBe("Junk");
      },
      STEP,
    );

    it(
      "a clean message stays in the INBOX",
      () => {
        const s = token();
        expect(toBob(s, ["--body", "Lunch at noon?\n"]).code).toBe(0);
        expect(folderOf(s)).toBe("INBOX");
      },
      STEP,
    );

    it(
      "EICAR is rejected, naming the signature",
      () => {
        const s = token();
        const file = path.join(scratch, "eicar.com");
        fs.writeFileSync(file, eicar());
        const t = toBob(s, ["--attach-type", "application/octet-stream", "--attach", `@${file}`]);
        expect(t.code).not.toBe(0);
        expect(replies(t)).toContainEqual(expect.stringMatching(/^554 5\.7\.1 .*Eicar-Test-Signature/));
        expect(folderOf(s)).toBe("");
      },
      STEP,
    );
  });

  describe("filter: Bayes training by moving mail (IMAPSieve)", () => {
    it(
      "moving a message into Junk teaches spam; moving it back out teaches ham",
      async () => {
        const s = token();
        // Long enough for Bayes, which skips messages with few words.
        const body = `${"Bob files this report about the quarterly numbers, the budget meeting and the new office plans. ".repeat(4)}\n`;
        expect(toBob(s, ["--body", body]).code).toBe(0);
        expect(folderOf(s)).toBe("INBOX");
        const before = learned();
        const uid = /\* SEARCH (\d+)/.exec(imap("INBOX", `UID SEARCH SUBJECT "${s}"`).out)?.[1];
        expect(uid, "the message's UID in INBOX").toBeDefined();
        expect(imap("INBOX", `UID MOVE ${uid} Junk`).code).toBe(0);
        expect(folderOf(s)).toBe("Junk");
        const afterSpam = await learnedUntil((l) => l.spam > before.spam);
        expect(afterSpam.spam).toBe(before.spam + 1);

        const junkUid = /\* SEARCH (\d+)/.exec(imap("Junk", `UID SEARCH SUBJECT "${s}"`).out)?.[1];
        expect(junkUid, "the message's UID in Junk").toBeDefined();
        expect(imap("Junk", `UID MOVE ${junkUid} INBOX`).code).toBe(0);
        expect((await learnedUntil((l) => l.ham > afterSpam.ham)).ham).toBe(afterSpam.ham + 1);
      },
      5 * STEP,
    );
  });
}
