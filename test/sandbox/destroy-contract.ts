// Stopping management (README): `pulumi destroy --yes` of the deployed
// sandbox stack forgets every resource and leaves the host working: no
// config file changes, every service runs, mail from outside lands, no mail
// or account is lost, and a backup runs. Then the stack takes the host back,
// both ways the README gives: `pulumi stack import` of the state saved before
// the destroy, and a plain `pulumi up` from an empty state; after each a
// preview finds nothing to change, so the steps after this one see the stack
// as it was. The sandbox stack has nothing on MinIO, PostgreSQL's provider or
// Cloudflare (test/destroy.test.ts shows under mocks that those are kept).
// test/sandbox/e2e.test.ts calls registerDestroyTests.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { inbound } from "../helpers/mail-clients";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 10 * 60_000;
const RUN = randomBytes(4).toString("hex");
const MAILBOX = "bob@example.test";
const MAILDIR = "/var/vmail/example.test/bob/Maildir";

/** Checksums of the daemons' config, the stack's own files, scripts, cron entries and DKIM keys. */
const HOST_FILES = [
  "{ find /etc/postfix /etc/dovecot /etc/rspamd /etc/nginx /etc/fail2ban /etc/mailstack",
  "/usr/local/sbin /var/lib/rspamd/dkim -type f -not -path '/etc/mailstack/tls/*' -print0;",
  "find /etc/cron.d -name 'mailstack*' -print0; } | sort -z | xargs -0 md5sum",
].join(" ");
/** The content hash of every message in every mailbox, sorted (a read message moves from new/ to cur/). */
const ALL_MAIL =
  "find /var/vmail -type f \\( -path '*/Maildir/cur/*' -o -path '*/Maildir/new/*' \\) -print0 | xargs -0 -r sha256sum | cut -d' ' -f1 | sort";
/** Every table of the mail database, its rows hashed. */
const DATABASE = [
  `q() { runuser -u postgres -- psql -XAtq -d mailserver -c "$1"; }`,
  `for t in $(q "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do`,
  `  printf '%s %s\\n' "$t" "$(q "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM public.\\"$t\\" x")"`,
  "done",
].join("\n");

export interface DestroyHooks {
  /** Runs the Pulumi CLI on the stack under test (its --stack and --cwd added): exit code, stdout, stderr. */
  readonly pulumi: (args: readonly string[]) => { code: number | null; out: string; err: string };
  /** `pulumi up` of the stack under test: the resources it touched, by operation. */
  readonly up: () => Promise<Record<string, string[]>>;
  /** Whether a preview finds nothing to change. */
  readonly unchanged: () => Promise<boolean>;
}

export function registerDestroyTests(ssh: SandboxSsh, host: string, hooks: DestroyHooks): void {
  const must = (cmd: string): string => {
    const r = ssh(cmd);
    if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.out}${r.err}`);
    return r.out;
  };
  const cli = (...args: string[]): string => {
    const r = hooks.pulumi(args);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed (${r.code}): ${r.out}${r.err}`);
    return r.out;
  };
  /** The resources in the stack's state. */
  const resources = (): unknown[] =>
    (JSON.parse(cli("stack", "export")) as { deployment: { resources?: unknown[] } }).deployment.resources ??
    [];
  /** Mail from outside lands in the mailbox within 30 s. */
  const flows = async (label: string) => {
    const token = `destroy-${RUN}-${label}`;
    const sent = inbound(host, MAILBOX, token);
    expect(sent.code, sent.out).toBe(0);
    for (let i = 0; i < 30; i++) {
      if (ssh(`grep -rlqF -- ${token} ${MAILDIR}/new ${MAILDIR}/cur`).code === 0) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`${label}: the message did not arrive`);
  };
  /** Every message hash of `before` is still in the mailboxes. */
  const noMailLost = (before: string) => {
    const now = new Set(must(ALL_MAIL).split("\n"));
    expect(before.split("\n").filter((h) => !now.has(h))).toEqual([]);
  };

  const saved = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-destroy-")), "state.json");
  let files = "";
  let mail = "";

  describe("stopping management: pulumi destroy", () => {
    it(
      "destroy forgets every resource; the host keeps its files, services, mail and accounts, takes mail and backs up",
      async () => {
        files = must(HOST_FILES);
        mail = must(ALL_MAIL);
        const database = must(DATABASE);
        expect(database).toMatch(/^virtual_users [0-9a-f]{32}$/m);
        expect(resources().length).toBeGreaterThan(50);
        // The README's first step: keep the state, to take the host back later.
        cli("stack", "export", "--file", saved);
        fs.chmodSync(saved, 0o600);

        cli("destroy", "--yes");
        expect(resources()).toEqual([]);
        expect(must(HOST_FILES), "a file changed on the host").toBe(files);
        expect(ssh("mailstack-health --state destroy | grep '^ok *services'").code).toBe(0);
        noMailLost(mail);
        expect(must(DATABASE)).toBe(database);
        await flows("after-destroy");
        // The nightly backup keeps working: bucket, key and password are the host's.
        expect(must("mailstack-backup")).toMatch(/snapshot [0-9a-f]{8} /);
        expect(ssh("mailstack-backup status").code).toBe(0);
        expect(must("grep -v '^#' /etc/cron.d/mailstack-backup")).toContain(
          "/usr/local/sbin/mailstack-backup",
        );
      },
      STEP,
    );

    it(
      "the state saved before the destroy takes the host back: after stack import nothing needs changing",
      async () => {
        cli("stack", "import", "--file", saved);
        expect(resources().length).toBeGreaterThan(50);
        expect(await hooks.unchanged(), "a preview after the import finds changes").toBe(true);
      },
      STEP,
    );

    it(
      "without a saved state, up takes the host back: it only creates, changes no file, and nothing needs changing then",
      async () => {
        try {
          cli("destroy", "--yes");
          expect(resources()).toEqual([]);
          const changed = await hooks.up();
          expect(Object.keys(changed)).toEqual(["create"]);
          expect(must(HOST_FILES), "taking the host back changed a file").toBe(files);
          noMailLost(mail);
          await flows("after-up");
          expect(await hooks.unchanged(), "a preview after taking the host back finds changes").toBe(true);
        } finally {
          fs.rmSync(path.dirname(saved), { recursive: true, force: true });
        }
      },
      STEP,
    );
  });
}
