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

/** Rspamd's own log on the host. */
const RSPAMD_LOG = "/var/log/rspamd/rspamd.log";

/**
 * The lines of Rspamd's log since its current main process began loading its
 * config that mark the start or name maps.rspamd.com. The map URLs are logged
 * while the config loads, before the "is starting" line, by the same process
 * (#<pid>(main)); so the window opens at that process's first line after the
 * previous shutdown or start, which a reboot (no shutdown line) cannot stretch
 * back into the run before. The first fetch fails within a second or two of
 * the start, so the check waits until Rspamd has run for 10 s. Exit code 2 if
 * the log holds no start at all (rotated away), which the test reports.
 */
export const RSPAMD_LOG_SINCE_START = [
  `log=${RSPAMD_LOG}`,
  `start=$(grep -n 'main: rspamd [^ ]* is starting' "$log" | tail -1 | cut -d: -f1)`,
  `[ -n "$start" ] || { echo "no start of Rspamd in $log" >&2; exit 2; }`,
  `main=$(sed -n "\${start}p" "$log" | grep -o '#[0-9]*(main)')`,
  `from=$(head -n "$((start - 1))" "$log" | grep -n 'main: terminating|main: rspamd [^ ]* is starting' | tail -1 | cut -d: -f1)`,
  `first=$(tail -n +"$((\${from:-0} + 1))" "$log" | grep -n -F -m1 "$main" | cut -d: -f1)`,
  `up=$(ps -o etimes= -p "$(cat /run/rspamd/rspamd.pid)" | tr -d ' ')`,
  `[ "\${up:-0}" -ge 10 ] || sleep $((10 - \${up:-0}))`,
  `tail -n +"$((\${from:-0} + first))" "$log" | grep -F -e ' is starting' -e maps.rspamd.com`,
].join("\n");

/** The lines of `text` that name maps.rspamd.com, trimmed. Pure. */
export function mapsRspamdLines(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.includes("maps.rspamd.com"))
    .map((l) => l.trim());
}

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

  // The sandbox runs with spamNetworkChecks false (Pulumi.sandbox.yaml) and has
  // no route off the machine: no module may even try an outside server.
  describe("filter: offline means offline (spamNetworkChecks false)", () => {
    it("no module of Rspamd's effective config names a map on maps.rspamd.com", () => {
      const r = ssh("rspamadm configdump");
      expect(r.code, r.err).toBe(0);
      // The whole config, not an empty or partial dump.
      for (const m of ["multimap", "whitelist", "phishing", "mime_types", "mid", "rbl"]) {
        expect(r.out, m).toMatch(new RegExp(`^${m} [{[]`, "m"));
      }
      expect(mapsRspamdLines(r.out)).toEqual([]);
    });

    it("Rspamd's log has no line naming maps.rspamd.com since it last started", () => {
      const r = ssh(RSPAMD_LOG_SINCE_START);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/main: rspamd \S+ is starting/);
      expect(mapsRspamdLines(r.out)).toEqual([]);
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
