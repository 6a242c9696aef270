// Faults against the deployed sandbox, each bounded in time and undone by the
// test itself:
//   - a broken config for Postfix, Dovecot, Rspamd, nginx and Fail2ban: the
//     template under files/ gets a bad line for one `pulumi up` (as an
//     operator's bad edit would), the push is rolled back, the deployment
//     fails with the daemon's own checker's message, and mail keeps flowing
//     (sshd's case is e2e step 4);
//   - PostgreSQL stopped while mail arrives: it is deferred, and delivered once
//     the database is back, none lost;
//   - Dovecot reloads while an LMTP session is inside DATA and another idles:
//     both finish, the message is answered 250 and stored once;
//   - a config change deploys (Dovecot reloads) while smtp-source sends N
//     messages: all N arrive, none twice;
//   - the host loses power and boots again (scripts/sandbox.sh reboot): every
//     service comes back, mail flows, and a preview finds nothing to change.
// LDAP going down is test/sandbox/ldap-contract.ts. test/sandbox/e2e.test.ts calls
// registerFaultTests.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../src/core/template";
import { inbound } from "../helpers/mail-clients";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");
const MAILBOX = "frank@example.org";
const NEW = "/var/vmail/example.org/frank/Maildir/new";
/** Messages smtp-source sends while the deployment runs. */
const LOAD = 1500;

/** Mail log lines these faults provoke on purpose. Pass them to registerHygieneTests. */
export const FAULT_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern:
      /postfix\/(cleanup|smtpd|trivial-rewrite|proxymap)\[\d+\]: warning: (pgsql:\/etc\/postfix\/pgsql\/\w+\.cf lookup error for "frank@example\.org"|pgsql query failed: fatal error from host unix:\/var\/run\/postgresql: server closed the connection unexpectedly|connect to pgsql server unix:\/var\/run\/postgresql|\w+: virtual_alias_maps map lookup problem for frank@example\.org -- message not accepted, try again later|virtual_alias_domains(: pgsql:\/etc\/postfix\/pgsql\/virtual_alias_maps\.cf: table lookup problem| lookup failure)$)/,
    why: "PostgreSQL stopped on purpose: Postfix's lookups fail and the mail waits",
  },
  {
    pattern:
      /postfix\/error\[\d+\]: \w+: to=<frank@example\.org>, relay=none, .*status=deferred \(address resolver failure\)$/,
    why: "PostgreSQL stopped on purpose: the queued mail is deferred until it is back",
  },
  {
    pattern:
      /postfix\/lmtp\[\d+\]: \w+: to=<frank@example\.org>, .*status=deferred \(host \S+ said: 451 4\.3\.0 <frank@example\.org> Temporary internal error/,
    why: "PostgreSQL stopped on purpose: Dovecot's LMTP cannot look the user up and defers",
  },
  {
    pattern:
      /(auth: (Warning|Error): (sqlpool\(pgsql\): Query failed|sql\(frank@example\.org\): User query failed)|lmtp\([^)]*\)(<[^>]*>)*: Error: (auth-master: userdb lookup\(frank@example\.org\)|lmtp-server: .*rcpt frank@example\.org: Failed to lookup user))/,
    why: "PostgreSQL stopped on purpose: Dovecot's SQL user lookups fail until it is back",
  },
];

export interface FaultHooks {
  /** `pulumi up` of the stack under test; rejects with the engine's message. */
  readonly up: () => Promise<unknown>;
  /** Whether a preview finds nothing to change. */
  readonly unchanged: () => Promise<boolean>;
  /** Sets (value) or removes (undefined) one setting of the stack. */
  readonly setConfig: (key: string, value: string | undefined) => Promise<void>;
}

/** Each daemon's template, the line that breaks it, and what its checker says. */
const BROKEN: readonly { daemon: string; file: string; line: string; says: RegExp }[] = [
  {
    daemon: "Postfix",
    file: "postfix/main.cf",
    line: "mailstack_fault_test = yes",
    says: /postconf: warning: \/etc\/postfix\/main\.cf: unused parameter: mailstack_fault_test=yes/,
  },
  {
    daemon: "Dovecot",
    file: "dovecot/conf.d/10-mail.conf",
    line: "mailstack_fault_test = yes",
    says: /doveconf: Fatal: .*Unknown setting: mailstack_fault_test/,
  },
  {
    daemon: "Rspamd",
    file: "rspamd/local.d/actions.conf",
    line: "}",
    says: /failed to load config: ucl parser error: .*object closed with \} is not opened with \{/,
  },
  {
    daemon: "nginx",
    file: "nginx/mailstack.conf",
    line: "server { listen mailstack-fault-test; }",
    says: /\[emerg\] .*host not found in "mailstack-fault-test" of the "listen" directive/,
  },
  {
    daemon: "Fail2ban",
    file: "fail2ban/jail.local",
    line: "[mailstack-fault-test]\nenabled = true",
    says: /ERROR +Unable to read the filter 'mailstack-fault-test'/,
  },
];

/** Checksums of every config file of the five daemons, on the host. */
const CONFIG_SUMS =
  "find /etc/postfix /etc/dovecot /etc/rspamd /etc/nginx /etc/fail2ban -type f -print0 | sort -z | xargs -0 md5sum";

export function registerFaultTests(ssh: SandboxSsh, host: string, hooks: FaultHooks): void {
  const must = (cmd: string): string => {
    const r = ssh(cmd);
    if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.out}${r.err}`);
    return r.out;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Files in frank's new/ holding `token`. */
  const count = (token: string) =>
    Number(ssh(`grep -lF -- '${token}' ${NEW}/* 2>/dev/null | wc -l`).out.trim() || "0");
  /** Waits (flushing the queue) until `n` messages hold `token`; at most `seconds`. */
  const arrived = async (token: string, n: number, seconds: number) => {
    for (let i = 0; i < seconds && count(token) < n; i++) {
      if (i % 5 === 0) ssh("postqueue -f");
      await sleep(1000);
    }
    return count(token);
  };
  const send = (subject: string) => inbound(host, MAILBOX, subject);
  /** Mail from outside still lands. */
  const flows = async (label: string) => {
    const token = `fault-${RUN}-${label}`;
    expect(send(token).code, `swaks for ${label}`).toBe(0);
    expect(await arrived(token, 1, 30), `${label}: the message did not arrive`).toBe(1);
  };

  describe("faults", () => {
    for (const b of BROKEN) {
      it(
        `a broken ${b.daemon} config is rolled back with its checker's message, and mail flows`,
        async () => {
          const template = path.join(ROOT, "files", b.file);
          const good = fs.readFileSync(template, "utf8");
          const live = must(CONFIG_SUMS);
          let failure = "up succeeded";
          try {
            fs.writeFileSync(template, `${good}${b.line}\n`);
            failure = await hooks.up().then(
              () => "up succeeded",
              (err: Error) => err.message,
            );
          } finally {
            fs.writeFileSync(template, good);
          }
          expect(failure).toContain("check failed, nothing changed");
          expect(failure).toMatch(b.says);
          expect(must(CONFIG_SUMS), "a config file changed on the host").toBe(live);
          expect(ssh("mailstack-health --state fault | grep '^ok *services'").code).toBe(0);
          await flows(b.daemon);
          expect(await hooks.unchanged(), "a preview after the rollback finds changes").toBe(true);
        },
        STEP,
      );
    }

    it(
      "PostgreSQL stopped while mail arrives: it is deferred, then delivered once it is back, none lost",
      async () => {
        const token = `fault-${RUN}-pgdown`;
        must("service postgresql stop >/dev/null");
        try {
          // Mail from the host itself waits in Postfix's queue...
          for (let i = 1; i <= 3; i++) {
            must(
              `printf 'Subject: ${token}-local-${i}\\n\\nx\\n' | sendmail -f root@example.test ${MAILBOX}`,
            );
          }
          // ...and mail from outside is refused for now (4xx), for its sender to retry.
          const outside = send(`${token}-outside`);
          expect(outside.out).toMatch(/<\*\* 451 4\.3\.0 <frank@example\.org>: Temporary lookup failure/);
          await sleep(3000);
          expect(count(token)).toBe(0);
        } finally {
          must("service postgresql start </dev/null >/dev/null 2>&1");
        }
        // Postfix skips a PostgreSQL that failed for 60 s (dict_pgsql), then retries.
        expect(await arrived(`${token}-local-`, 3, 120)).toBe(3);
        for (let i = 1; i <= 3; i++) expect(count(`${token}-local-${i}`), `message ${i}`).toBe(1);
        // The outside sender's retry is accepted now. Each smtpd process keeps
        // its own 60 s for the failed server, so it may still say 451 once or
        // twice; a real sender retries, and so does this one, for up to 90 s.
        const deadline = Date.now() + 90_000;
        let retry = send(`${token}-outside`);
        while (retry.code !== 0 && Date.now() < deadline) {
          await sleep(5000);
          retry = send(`${token}-outside`);
        }
        expect(retry.out).not.toMatch(/<\*\* 5\d\d /);
        expect(retry.code).toBe(0);
        expect(await arrived(`${token}-outside`, 1, 30)).toBe(1);
        expect(ssh("postqueue -j | grep -c queue_id").out.trim()).toBe("0");
      },
      STEP,
    );

    it(
      "a Dovecot reload lets LMTP sessions finish: the message inside DATA is answered 250 and stored once, an idle session goes on",
      async () => {
        const token = `fault-${RUN}-lmtp-reload`;
        const script = fs.readFileSync(path.join(ROOT, "test/helpers/fixtures/lmtp-reload.py"), "utf8");
        const r = ssh(
          `cat >/tmp/mailstack-lmtp-reload.py && python3 /tmp/mailstack-lmtp-reload.py /var/spool/postfix/private/dovecot-lmtp ${MAILBOX} ${token}`,
          script,
        );
        expect(r.code, r.err).toBe(0);
        // Before shutdown_clients = no: "data: 421 4.3.2 ... Shutting down"
        // after the message was stored, so Postfix delivered it again.
        expect(r.out).toMatch(/^data: 250 2\.0\.0 <frank@example\.org> \S+ Saved$/m);
        expect(r.out).toMatch(/^idle: 250 2\.1\.0 OK$/m);
        expect(count(token)).toBe(1);
        await flows("after-the-lmtp-reload");
      },
      STEP,
    );

    it(
      `a config change deploys while smtp-source sends ${LOAD} messages: all arrive, none twice`,
      async () => {
        must(`rm -f ${NEW}/*`);
        // smtp-source (from the host's Postfix) against port 25 on loopback:
        // postscreen lets mynetworks through untested, so the host's public
        // address never enters its cache (the pregreet test connects from it).
        // Two sessions that each keep their connection; in the background.
        must(
          `nohup sh -c 'smtp-source -d -s 2 -m ${LOAD} -l 1024 -f load-${RUN}@outside.test -t ${MAILBOX} 127.0.0.1:25; echo "rc=$?"' >/tmp/mailstack-load.out 2>&1 </dev/null &`,
        );
        await sleep(1000);
        // The change: ldapFallback, which reloads Dovecot (LMTP delivery) mid-load.
        // (A filter change on long sessions: bench/filter-reload.sh and the README.)
        await hooks.setConfig("mailstack:ldapFallback", "never");
        try {
          await hooks.up();
          expect(
            ssh("pgrep -x smtp-source").code,
            "the load ended before the deployment did; raise LOAD",
          ).toBe(0);
          for (let i = 0; i < 120 && ssh("pgrep -x smtp-source").code === 0; i++) await sleep(1000);
          expect(must("cat /tmp/mailstack-load.out").trim()).toBe("rc=0");
          expect(await arrived(`load-${RUN}@outside.test`, LOAD, 60)).toBe(LOAD);
          // Cleanup gave each accepted message its own Message-ID: one file each.
          const ids = must(
            `grep -h -m1 -i '^Message-ID:' ${NEW}/* | sort | uniq -d | wc -l; grep -h -m1 -i '^Message-ID:' ${NEW}/* | wc -l`,
          );
          expect(ids.trim().split("\n")).toEqual(["0", String(LOAD)]);
        } finally {
          // The setting goes back, and so does the host, whatever failed above:
          // the next test (the reboot) expects a stack with nothing to change.
          await hooks.setConfig("mailstack:ldapFallback", undefined);
          must(`rm -f ${NEW}/*`);
          await hooks.up();
        }
      },
      STEP,
    );

    it(
      "after a power cut and a boot every service comes back, mail flows, and nothing needs changing",
      async () => {
        const r = spawnSync("bash", [path.join(ROOT, "scripts/sandbox.sh"), "reboot"], {
          encoding: "utf8",
          timeout: 180_000,
        });
        expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
        const health = ssh("mailstack-health --state fault");
        expect(health.out).toMatch(/^ok +services: all \d+ running/m);
        await flows("reboot");
        expect(await hooks.unchanged(), "a preview after the reboot finds changes").toBe(true);
      },
      STEP,
    );
  });
}
