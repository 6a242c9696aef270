// mailstack-health against the deployed sandbox, healthy and broken. The
// sandbox has no DNS for its zones (its stack sets checkDns false); here the
// published records are served by a throwaway NSD on the sandbox bridge's
// address, and mailstack:health dnsServer points the check at it. The queue
// may hold nothing (maxQueue 0). Broken means: Dovecot stopped, so
// a message waits in the queue, and NSD serving another MX for example.test.
// Then a TLS scan from this machine must leave it healthy, its refusals
// counted as log noise. Last, a column granted by hand in the mail database
// must be reported by name until it is revoked. test/sandbox/e2e.test.ts
// calls registerHealthTests.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { inbound } from "../helpers/mail-clients";
import type { AllowedLogLine } from "../helpers/mail-log";
import { startNsd, type TestNsd } from "../helpers/nsd";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");

/** Mail log lines this test provokes on purpose. Pass them to registerHygieneTests. */
export const HEALTH_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern: /master: Warning: Killed with signal 15 \(by pid=\d+ uid=0 code=kill\)$/,
    why: "the health check's broken state: Dovecot stopped on purpose",
  },
];

export interface HealthHooks {
  /** The address of this machine on the sandbox bridge, where the test NSD listens. */
  readonly bridgeAddress: string;
  /** The stack's dnsZones output. */
  readonly zones: () => Promise<Record<string, string>>;
  /** Sets mailstack:health to these settings (undefined: the sandbox stack's own) and runs `pulumi up`. */
  readonly configure: (settings: Record<string, unknown> | undefined) => Promise<void>;
}

export function registerHealthTests(ssh: SandboxSsh, host: string, hooks: HealthHooks): void {
  let nsd: TestNsd | undefined;
  let zones: Record<string, string> = {};
  let port = 0;
  /** (Re)starts the test NSD on the same port with these zones. */
  const serve = async (z: Record<string, string>) => {
    nsd?.stop();
    nsd = await startNsd(z, hooks.bridgeAddress, port || undefined);
    port = nsd.port;
  };
  const health = () => ssh("mailstack-health --state e2e");
  const queued = () => Number(ssh("postqueue -j | grep -c queue_id").out.trim() || "0");
  const waitForEmptyQueue = async () => {
    ssh("postqueue -f");
    for (let i = 0; i < 60 && queued() > 0; i++) await new Promise((r) => setTimeout(r, 500));
    expect(queued(), "the queue did not drain").toBe(0);
  };
  const send = (subject: string) => inbound(host, "bob@example.test", subject);

  // A daemon started over SSH must not hold the session's output open.
  const startDovecot = () =>
    ssh("service dovecot status >/dev/null || service dovecot start </dev/null >/dev/null 2>&1");
  afterAll(async () => {
    startDovecot();
    nsd?.stop();
    await hooks.configure(undefined);
  }, STEP);

  describe("health check (mailstack-health)", () => {
    it(
      "is healthy after a deployment: services, queue, log, certificate, backup and DNS",
      async () => {
        zones = await hooks.zones();
        await serve(zones);
        await hooks.configure({ checkDns: true, dnsServer: `${hooks.bridgeAddress}:${port}`, maxQueue: 0 });
        await waitForEmptyQueue();
        // The first check reads the whole mail log, with what the earlier tests provoked.
        health();
        expect(send(`health-${RUN}-ok`).code).toBe(0);
        await waitForEmptyQueue();
        const r = health();
        expect(r.out).toMatch(/^mailstack-health: mail\.example\.test at \S+: healthy$/m);
        for (const check of ["services", "queue", "mail log", "tls", "backup", "dns", "privileges"]) {
          expect(r.out, check).toMatch(new RegExp(`^ok +${check}: `, "m"));
        }
        expect(r.out).toMatch(/^ok +services: all 11 running/m);
        expect(r.out).toMatch(/^ok +dns: all \d+ record sets served as the stack publishes them/m);
        expect(r.code, r.out).toBe(0);
      },
      STEP,
    );

    it(
      "lists what is wrong and exits 1 when a service is down, mail waits and DNS serves another MX",
      async () => {
        expect(ssh("service dovecot stop").code).toBe(0);
        expect(send(`health-${RUN}-stuck`).code).toBe(0);
        for (let i = 0; i < 40 && queued() === 0; i++) await new Promise((r) => setTimeout(r, 250));
        await serve({
          ...zones,
          "example.test": (zones["example.test"] ?? "").replace(
            /^example\.test\. (\d+) IN MX 10 mail\.example\.test\./m,
            "example.test. $1 IN MX 20 other.example.net.",
          ),
        });
        const r = health();
        expect(r.code, r.out).toBe(1);
        expect(r.out).toMatch(/^mailstack-health: mail\.example\.test at \S+: \d+ problem\(s\)$/m);
        expect(r.out).toMatch(/^FAIL +services: dovecot is not running/m);
        expect(r.out).toMatch(/^FAIL +queue: 1 message\(s\), the oldest \d+ min old: more than 0/m);
        expect(r.out).toMatch(
          /^FAIL +dns: example\.test MX serves 20 other\.example\.net\.; the stack publishes 10 mail\.example\.test\./m,
        );
        // Everything else still passes, and the problems are listed at the end.
        expect(r.out).toMatch(/^ok +tls: /m);
        expect(r.out).toMatch(/^problems:\n {2}- services: dovecot is not running/m);

        // The scheduled run logs what it finds to syslog.
        const cron = ssh("cat /etc/cron.d/mailstack-health").out;
        const line = /^\*\/15 \* \* \* \* root (.+)$/m.exec(cron)?.[1] ?? "";
        expect(line).toContain("mailstack-health --state cron --quiet");
        ssh(line);
        const logged = ssh("grep 'mailstack-health' /var/log/syslog | tail -n 5").out;
        expect(logged).toMatch(
          /mailstack-health: mailstack-health: mail\.example\.test at \S+: \d+ problem\(s\)/,
        );
        expect(logged).toMatch(/ {2}- services: dovecot is not running/);
      },
      STEP,
    );

    it(
      "is healthy again once Dovecot runs, the queue drains and DNS is right",
      async () => {
        expect(startDovecot().code).toBe(0);
        await serve(zones);
        await waitForEmptyQueue();
        const r = health();
        expect(r.out).toMatch(/: healthy$/m);
        expect(r.code, r.out).toBe(0);
      },
      STEP,
    );

    it(
      "stays healthy through a TLS scan, and counts its refusals as log noise",
      () => {
        // What a scanner does: TLS 1.0 on the SMTP, IMAPS and POP3S ports, each
        // refused. The same refusals as the hygiene test's, so its allowlist covers them.
        for (const [port, starttls] of [
          [25, true],
          [993, false],
          [995, false],
        ] as const) {
          const args = [
            "s_client",
            "-connect",
            `${host}:${port}`,
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-brief",
          ];
          if (starttls) args.push("-starttls", "smtp");
          const h = spawnSync("openssl", args, { encoding: "utf8", input: "", timeout: 20_000 });
          expect(h.status, `${h.stdout}${h.stderr}`).not.toBe(0);
        }
        const r = health();
        expect(r.out).toMatch(/: healthy$/m);
        expect(r.out).toMatch(/^ok +mail log: 0 error\(s\)/m);
        const noise =
          /^ok +log noise: (\d+) line\(s\) since the last check \((.*)\), not counted as problems$/m.exec(
            r.out,
          );
        expect(noise, r.out).not.toBeNull();
        expect(Number(noise?.[1])).toBeGreaterThanOrEqual(2);
        // Postfix's two lines on port 25 (its warning and SSL_accept error);
        // Dovecot logs its refusals on 993 and 995 at info level, neither
        // problem nor noise.
        expect(noise?.[2]).toMatch(/\btls-handshake ([2-9]|\d\d+)\b/);
        expect(r.code, r.out).toBe(0);
        expect(ssh("cat /var/lib/mailstack/health/metrics-e2e.prom").out).toMatch(
          /^mailstack_health_log_noise_lines [1-9]\d*$/m,
        );
      },
      STEP,
    );

    it(
      "reports a privilege granted by hand in the mail database, by name, until it is revoked",
      () => {
        // As the host's scripts reach PostgreSQL: the postgres superuser on its socket.
        const psql = (sql: string) =>
          ssh(`cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d mailserver -c '${sql}'`);
        const grant = psql("GRANT SELECT (password_hash) ON virtual_users TO postfix_lookup");
        expect(grant.code, grant.err).toBe(0);
        try {
          const r = health();
          expect(r.code, r.out).toBe(1);
          expect(r.out).toMatch(
            /^FAIL +privileges: postfix_lookup holds SELECT on column public\.virtual_users\.password_hash, which the stack does not grant$/m,
          );
          expect(r.out.match(/^FAIL +/gm), r.out).toHaveLength(1);
        } finally {
          psql("REVOKE SELECT (password_hash) ON virtual_users FROM postfix_lookup");
        }
        const r = health();
        expect(r.out).toMatch(
          /^ok +privileges: \d+ privilege\(s\) in database mailserver, as the stack declares them$/m,
        );
        expect(r.code, r.out).toBe(0);
      },
      STEP,
    );
  });
}
