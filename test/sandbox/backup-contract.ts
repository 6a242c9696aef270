// Backups against the deployed sandbox and its MinIO: a snapshot goes into
// the bucket encrypted, its time is recorded for monitoring; a deleted message
// comes back from an earlier snapshot byte for byte; the database dump
// restores into a scratch database that matches the live one. test/sandbox/e2e.test.ts
// calls registerBackupTests.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DATABASE_SPEC } from "../../src/concerns/database/spec";
import { inbound } from "../helpers/mail-clients";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");
const USER = "bob@example.test";
const MAILDIR = "/var/vmail/example.test/bob/Maildir";
const SCRATCH = `mailstack_restore_${RUN}`;

/**
 * Mail log lines the restore of everything provokes on purpose: it stops
 * Dovecot, whose master logs the TERM it gets. Pass them to registerHygieneTests.
 */
export const BACKUP_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern: /dovecot: master: Warning: Killed with signal 15 \(by pid=\d+ uid=0 code=kill\)$/,
    why: "mailstack-restore --all stops Dovecot before it puts the files back",
  },
];

export interface BackupHooks {
  /** The directory the sandbox's MinIO keeps the bucket's objects in, on this machine. */
  readonly s3DataDir: string;
}

export function registerBackupTests(ssh: SandboxSsh, host: string, hooks: BackupHooks): void {
  const token = `mailstack-backup-${RUN}`;
  let first = "";

  /** Runs a command on the host and insists it succeeds; returns its stdout. */
  const must = (cmd: string): string => {
    const r = ssh(cmd);
    if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.out}${r.err}`);
    return r.out;
  };
  /** Takes a backup now; returns the snapshot's short id. */
  const backup = (): string => {
    const out = must("mailstack-backup");
    const id = /snapshot ([0-9a-f]{8}) /.exec(out)?.[1];
    if (!id) throw new Error(`no snapshot id in: ${out}`);
    return id;
  };
  /** The Maildir file holding the test message, with its SHA-256, or "" when there is none. */
  const message = () =>
    ssh(
      `f=$(grep -rl -- ${token} ${MAILDIR}/cur ${MAILDIR}/new 2>/dev/null | head -n1); [ -n "$f" ] && sha256sum "$f"`,
    ).out.trim();
  const waitFor = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 60; i++) {
      if (ok()) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  describe("backups: restic into the bucket, and restores", () => {
    it("mailstack-restore --help and mailstack-backup --help print usage, not the script", () => {
      for (const tool of ["mailstack-restore", "mailstack-backup"]) {
        const help = ssh(`${tool} --help`);
        expect(help.code, `${tool} --help: ${help.err}`).toBe(0);
        expect(help.out).toMatch(new RegExp(`^usage: ${tool} `));
        // Once it printed its own header lines, ending in a shellcheck directive.
        expect(help.out).not.toMatch(/shellcheck|^#|\$\{|^\s*\. /m);
        expect(help.err).toBe("");
      }
    });

    it(
      "a backup lands in the bucket encrypted, and its time is recorded for monitoring",
      async () => {
        const sent = inbound(host, USER, token, [
          "--body",
          `the message a restore must bring back, ${token}`,
        ]);
        expect(sent.code, sent.out).toBe(0);
        await waitFor("the message in bob's Maildir", () => message() !== "");

        first = backup();
        const status = ssh("mailstack-backup status");
        expect(status.code, status.out).toBe(0);
        expect(status.out).toMatch(new RegExp(`last success \\S+Z \\(\\d+ s ago\\), snapshot ${first}`));
        const metrics = must("cat /var/lib/mailstack/backup/metrics.prom");
        expect(metrics).toMatch(/^mailstack_backup_last_success_timestamp_seconds [1-9]\d+$/m);
        expect(metrics).toMatch(/^mailstack_backup_last_run_success 1$/m);
        // restic encrypts: the message's text is nowhere in MinIO's files, though the snapshot is.
        const grep = spawnSync("grep", ["-rlF", token, hooks.s3DataDir], { encoding: "utf8" });
        expect(grep.status, `grep: ${grep.stdout}${grep.stderr}`).toBe(1);
        expect(must("mailstack-backup snapshots")).toContain(first);
        // The secrets file is root's alone.
        expect(must("stat -c '%U:%G %a' /etc/mailstack/backup.env").trim()).toBe("root:root 600");
      },
      STEP,
    );

    it(
      "a deleted message comes back from an earlier snapshot with an identical checksum",
      async () => {
        const before = message();
        expect(before).toMatch(/^[0-9a-f]{64} +\//);
        must(`doveadm expunge -u ${USER} mailbox INBOX subject ${token}`);
        expect(message()).toBe("");
        // A later snapshot without the message: the restore must pick the earlier one.
        const second = backup();
        expect(second).not.toBe(first);

        const out = must(`mailstack-restore --snapshot ${first} --mailbox ${USER}`);
        expect(out).toMatch(new RegExp(`${USER}: [1-9]\\d* files back from snapshot ${first}`));
        const [sum] = message().split(" ");
        expect(sum).toBe(before.split(" ")[0]);
        // Dovecot sees it again.
        expect(must(`doveadm search -u ${USER} mailbox INBOX subject ${token} | wc -l`).trim()).toBe("1");
        // Nothing of the restore is left behind.
        expect(must("ls /var/tmp | grep -c mailstack-restore || true").trim()).toBe("0");
      },
      STEP,
    );

    it(
      "the database dump restores into a scratch database that matches the live one",
      () => {
        must(`mailstack-restore --snapshot ${first} --database-into ${SCRATCH}`);
        try {
          // Every table's rows, in a stable order, hashed: in the live database and the copy.
          const digest = (db: string) =>
            must(
              [
                `q() { runuser -u postgres -- psql -XAtq -d ${db} -c "$1"; }`,
                `for t in $(q "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do`,
                `  printf '%s %s\\n' "$t" "$(q "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM public.\\"$t\\" x")"`,
                "done",
              ].join("\n"),
            );
          const live = digest(DATABASE_SPEC.database);
          expect(live).toMatch(/^domains [0-9a-f]{32}$/m);
          expect(live).toMatch(/^virtual_users [0-9a-f]{32}$/m);
          expect(digest(SCRATCH)).toBe(live);
          // Refuses to overwrite a database that exists.
          const again = ssh(`mailstack-restore --snapshot ${first} --database-into ${SCRATCH}`);
          expect(again.code).not.toBe(0);
          expect(again.err).toContain(`database ${SCRATCH} exists`);
        } finally {
          ssh(`runuser -u postgres -- dropdb --if-exists ${SCRATCH}`);
        }
      },
      STEP,
    );

    it(
      "restoring everything brings the message back and the daemons up again",
      async () => {
        const before = message();
        const modes = "stat -c '%a %U:%G %n' / /etc /var /var/lib /var/vmail /etc/dovecot /etc/postfix";
        const modesBefore = must(modes);
        must(`doveadm expunge -u ${USER} mailbox INBOX subject ${token}`);
        expect(message()).toBe("");
        const out = must(`mailstack-restore --snapshot ${first} --all`);
        expect(must(modes)).toBe(modesBefore);
        expect(out).toContain(`everything restored from snapshot ${first}; the daemons run again`);
        expect(message().split(" ")[0]).toBe(before.split(" ")[0]);
        expect(must(`doveadm search -u ${USER} mailbox INBOX subject ${token} | wc -l`).trim()).toBe("1");
        // Mail flows again: a new message reaches the mailbox.
        const probe = `${token}-after-restore`;
        const sent = inbound(host, USER, probe);
        expect(sent.code, sent.out).toBe(0);
        await waitFor(
          "mail after the restore",
          () => ssh(`grep -rlq -- ${probe} ${MAILDIR}/new ${MAILDIR}/cur`).code === 0,
        );
      },
      STEP,
    );

    it(
      "backups run daily on schedule",
      () => {
        expect(must("grep -v '^#' /etc/cron.d/mailstack-backup")).toContain(
          "15 3 * * * root /usr/local/sbin/mailstack-backup 2>&1 | logger -t mailstack-backup",
        );
        expect(ssh("pgrep -x cron").code).toBe(0);
      },
      STEP,
    );
  });
}
