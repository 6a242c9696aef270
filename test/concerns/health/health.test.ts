import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_SPEC, renderTableGrantsSql } from "../../../src/concerns/database/spec";
import type { DnsRecord } from "../../../src/concerns/dns/records";
import {
  renderDnsExpectations,
  renderHealthConf,
  renderHealthCron,
  renderHealthNoise,
  renderPrivilegeExpectations,
  servedForm,
} from "../../../src/concerns/health/render";
import { DEFAULT_HEALTH, type HealthSettings, healthProblems } from "../../../src/concerns/health/settings";
import { parseConfig } from "../../../src/config";
import { ROOT } from "../../../src/core/template";
import { healthServices } from "../../../src/mailstack";
import { fakeInit } from "../../helpers/fake-init";
import { provisionMailDatabase, startPostgres, type TestPostgres } from "../../helpers/pg";

const rec = (type: DnsRecord["type"], value: string, extra: Partial<DnsRecord> = {}): DnsRecord => ({
  zone: "tlabs.team",
  name: "tlabs.team",
  type,
  value,
  why: "test",
  ...extra,
});

describe("mailstack-health settings", () => {
  it("accepts the defaults and names each bad setting", () => {
    expect(healthProblems(DEFAULT_HEALTH)).toEqual([]);
    const bad = healthProblems({
      ...DEFAULT_HEALTH,
      everyMinutes: 61,
      maxQueue: -1,
      certMinDays: 0,
      checkDns: "yes" as unknown as boolean,
      dnsServer: "1.1.1.1; rm -rf /",
    });
    expect(bad.map((p) => p.split(" ")[0])).toEqual([
      "everyMinutes",
      "maxQueue",
      "certMinDays",
      "checkDns",
      "dnsServer",
    ]);
    expect(healthProblems({ ...DEFAULT_HEALTH, dnsServer: "ns1.example.net:5353" })).toEqual([]);
  });

  it("takes noise classes with a name, a one-line pattern awk reads the same, and a why", () => {
    const good = {
      name: "my-scanner",
      pattern: "^postfix/smtpd\\[[0-9]+\\]: connect from scan",
      why: "our scanner",
    };
    expect(healthProblems({ ...DEFAULT_HEALTH, noise: [good] })).toEqual([]);
    const bad = healthProblems({
      ...DEFAULT_HEALTH,
      ldapBlipMinutes: -1,
      noise: [
        { ...good, name: "My Scanner" },
        { ...good, pattern: "[0-9]{2}" },
        { ...good, pattern: "a(b" },
        { ...good, pattern: "x*" },
        { ...good, why: "" },
        { ...good, pattern: "a\nb" },
        { ...good, pattern: "smtpd\\[\\d+\\]" },
      ],
    });
    expect(bad).toEqual([
      "ldapBlipMinutes -1 must be a whole number from 0 to 1440",
      'noise[0].name "My Scanner" must be 1 to 32 of a-z, 0-9 and -, starting with a letter',
      expect.stringMatching(/^noise\[1\]\.pattern "\[0-9\]\{2\}" has a brace, .*write \[0-9\]\[0-9\]/),
      expect.stringMatching(/^noise\[2\]\.pattern "a\(b" is no regular expression/),
      'noise[3].pattern "x*" matches an empty line, and so every line',
      "noise[4].why must say, on one line, why such lines are not a problem",
      "noise[5].pattern must be a regular expression on one line",
      expect.stringMatching(
        /^noise\[6\]\.pattern "smtpd.*" uses \\d, \\w, \\s, \\b or \(\?, which awk does not know/,
      ),
    ]);
    expect(healthProblems({ ...DEFAULT_HEALTH, noise: "tls" as unknown as [] })).toEqual([
      'noise "tls" must be a list of {"name", "pattern", "why"}',
    ]);
  });

  it("sorts the noise classes as it reads them, so their order in config changes nothing", () => {
    const values = (noise: unknown[]) => ({
      host: "203.0.113.10",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      domains: JSON.stringify([{ name: "tlabs.team" }]),
      sshPrivateKeyPath: "/dev/null",
      dbMode: "preprovisioned",
      storageMode: "none",
      health: JSON.stringify({ noise }),
    });
    const a = {
      name: "monitor",
      pattern: "^postfix/smtpd\\[[0-9]+\\]: connect from monitor",
      why: "our monitoring",
    };
    const b = {
      name: "backup-mx",
      pattern: "^postfix/smtp\\[[0-9]+\\]: .*relay=backup",
      why: "our backup MX",
    };
    const read = (noise: unknown[]) =>
      parseConfig({ values: values(noise), secretKeys: new Set() }).health.noise;
    expect(read([a, b])).toEqual([b, a]);
    expect(read([b, a])).toEqual([b, a]);
  });

  it("fails the preview naming mailstack:health and the fix", () => {
    const values = {
      host: "203.0.113.10",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      domains: JSON.stringify([{ name: "tlabs.team" }]),
      sshPrivateKeyPath: "/dev/null",
      dbMode: "preprovisioned",
      storageMode: "none",
      health: JSON.stringify({ maxQueue: "many" }),
    };
    expect(() => parseConfig({ values, secretKeys: new Set() })).toThrow(
      /mailstack:health has maxQueue "many" must be a whole number from 0 to 1000000\. Fix: pulumi config set --path .health\.maxQueue. 100/,
    );
  });
});

describe("mailstack-health files", () => {
  it("writes each record as dig +short prints it", () => {
    expect(servedForm(rec("MX", "mail.tlabs.team", { priority: 10 }))).toBe("10 mail.tlabs.team.");
    expect(servedForm(rec("SRV", "mail.tlabs.team", { priority: 0, srv: { weight: 1, port: 993 } }))).toBe(
      "0 1 993 mail.tlabs.team.",
    );
    expect(servedForm(rec("CNAME", "mail.tlabs.team"))).toBe("mail.tlabs.team.");
    expect(servedForm(rec("AAAA", "2001:0db8:0000::0001"))).toBe("2001:db8::1");
    expect(servedForm(rec("TLSA", "3 1 1 ABCDEF"))).toBe("3 1 1 abcdef");
    expect(servedForm(rec("TXT", "v=spf1 mx -all"))).toBe("v=spf1 mx -all");
    expect(servedForm(rec("CAA", '0 issue "letsencrypt.org"'))).toBe('0 issue "letsencrypt.org"');
    expect(renderDnsExpectations([rec("TXT", "v=spf1 mx -all"), rec("MX", "mail.tlabs.team")])).toBe(
      "tlabs.team TXT v=spf1 mx -all\ntlabs.team MX 10 mail.tlabs.team.\n",
    );
    expect(() => renderDnsExpectations([rec("TXT", "a\nb")])).toThrow(/spans lines/);
  });

  it("renders settings that bash reads back, the services quoted", () => {
    const conf = renderHealthConf({
      settings: { ...DEFAULT_HEALTH, dnsServer: "10.0.0.53:5353" },
      services: healthServices(true),
      cert: "/etc/mailstack/tls/fullchain.pem",
      backup: true,
    });
    const r = spawnSync(
      "bash",
      ["-c", `${conf}\nprintf '%s|' "$SERVICES" "$MAX_QUEUE" "$CERT" "$BACKUP" "$CHECK_DNS" "$DNS_SERVER"`],
      { encoding: "utf8" },
    );
    expect(r.stdout).toBe(
      "ssh cron rsyslog postgresql redis-server rspamd clamav-daemon postfix dovecot nginx fail2ban|50|/etc/mailstack/tls/fullchain.pem|yes|yes|10.0.0.53:5353|",
    );
    expect(healthServices(false)).not.toContain("postgresql");
  });

  it("schedules the check every everyMinutes into syslog, or not at all", () => {
    expect(renderHealthCron(DEFAULT_HEALTH)).toContain(
      "*/15 * * * * root /usr/local/sbin/mailstack-health --state cron --quiet 2>&1 | logger -t mailstack-health\n",
    );
    const off = renderHealthCron({ ...DEFAULT_HEALTH, everyMinutes: 0 });
    expect(off).not.toMatch(/^[^#].*mailstack-health/m);
    expect(off).toContain("# Off (mailstack:health everyMinutes 0)");
  });

  it("writes the stack's noise classes, each explained, then the operator's in name order", () => {
    const text = renderHealthNoise(DEFAULT_HEALTH);
    expect(text).toMatch(/^# Managed by mailstack .*\n# Source: files\/health\/health-noise\.txt\n/);
    const classes = [
      ...new Set(
        text
          .split("\n")
          .filter((l) => /^[a-z]/.test(l))
          .map((l) => l.split(" ")[0]),
      ),
    ];
    expect(classes).toEqual([
      "tls-handshake",
      "no-auth-disconnect",
      "lost-connection",
      "pipelining",
      "postscreen",
      "non-smtp",
      "unresolved-client",
      "auth-failure",
      "ratelimit",
      "ldap-blip",
    ]);
    // Every class line sits under a comment that says why.
    for (const block of text.split(/\n\n/).filter((b) => /^[a-z]/m.test(b))) {
      expect(block, block).toMatch(/^# /);
    }
    const mine = renderHealthNoise({
      ...DEFAULT_HEALTH,
      noise: [
        { name: "probe", pattern: "^postfix/smtpd\\[[0-9]+\\]: connect from monitor", why: "our monitoring" },
      ],
    });
    expect(mine.endsWith("# our monitoring\nprobe ^postfix/smtpd\\[[0-9]+\\]: connect from monitor\n")).toBe(
      true,
    );
  });

  it("the script passes bash -n and shellcheck's parse", () => {
    expect(spawnSync("bash", ["-n", "files/health/mailstack-health.sh"]).status).toBe(0);
  });
});

// The real script, run with bash on this machine against a fake host in a
// scratch folder: a fake init (test/helpers/fake-init.ts) for the services, a
// postqueue that prints a queue the test writes, a certificate made here, and
// the settings and noise classes from the real renderers. The mail log is a
// file the test writes.
const SCRIPT = path.join(ROOT, "files/health/mailstack-health.sh");
let scratch: string;
let certs: { good: string; expiring: string };
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "health-"));
  const cert = (days: number) => {
    const out = path.join(scratch, `cert-${days}.pem`);
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "/dev/null",
      ].concat(["-subj", "/CN=mail.example.test", "-days", String(days), "-out", out]),
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`openssl could not make a certificate: ${r.stderr}`);
    return out;
  };
  certs = { good: cert(90), expiring: cert(3) };
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

interface FakeHost {
  /** Appends lines to the mail log. */
  log(lines: readonly string[]): void;
  /** Runs mailstack-health with these arguments. */
  run(...args: string[]): { code: number | null; out: string; err: string };
  /** The metrics of the last run with --state NAME. */
  metrics(state: string): string;
  /** The host's /etc/mailstack/health-noise.txt. */
  readonly noiseFile: string;
}

let hosts = 0;
function fakeHost(
  opts: {
    settings?: Partial<HealthSettings>;
    running?: readonly string[];
    queue?: readonly { id: string; minutesAgo: number }[];
    cert?: string;
    /** A cluster holding the mail database, whose privileges are then checked. */
    database?: TestPostgres;
  } = {},
): FakeHost {
  const dir = path.join(scratch, `host-${++hosts}`);
  const services = ["postfix", "dovecot"];
  const init = fakeInit(dir, { systemd: true, units: services, running: opts.running ?? services });
  const now = Math.floor(Date.now() / 1000);
  const queue = (opts.queue ?? []).map(
    (m) => `{"queue_name": "deferred", "queue_id": "${m.id}", "arrival_time": ${now - m.minutesAgo * 60}}`,
  );
  fs.writeFileSync(path.join(dir, "queue.json"), queue.map((l) => `${l}\n`).join(""));
  fs.writeFileSync(path.join(dir, "bin", "postqueue"), '#!/bin/bash\ncat "$FAKE_INIT/queue.json"\n', {
    mode: 0o755,
  });
  const etc = path.join(dir, "etc");
  const mailLog = path.join(dir, "mail.log");
  fs.mkdirSync(etc);
  const settings = { ...DEFAULT_HEALTH, checkDns: false, ...opts.settings };
  const conf = renderHealthConf({
    settings,
    services,
    cert: opts.cert ?? certs.good,
    backup: false,
    ...(opts.database ? { database: DATABASE_SPEC.database } : {}),
  });
  fs.writeFileSync(path.join(etc, "health.conf"), `${conf}MAIL_LOG=${mailLog}\n`);
  fs.writeFileSync(path.join(etc, "health-noise.txt"), renderHealthNoise(settings));
  fs.writeFileSync(path.join(etc, "health-privileges.txt"), renderPrivilegeExpectations(DATABASE_SPEC));
  fs.writeFileSync(mailLog, "");
  const state = path.join(dir, "state");
  const env = {
    ...init.env,
    MAILSTACK_PATH: path.join(dir, "bin"),
    MAILSTACK_HEALTH_ETC: etc,
    MAILSTACK_HEALTH_STATE: state,
    MAILSTACK_PRIVILEGE_MATRIX: path.join(ROOT, "files/postgres/privilege-matrix.sql"),
    ...(opts.database ? { PGHOST: opts.database.socketDir } : {}),
  };
  return {
    log: (lines) => fs.appendFileSync(mailLog, lines.map((l) => `${l}\n`).join("")),
    run: (...args) => {
      const r = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", env, timeout: 20_000 });
      return { code: r.status, out: r.stdout, err: r.stderr };
    },
    metrics: (name) => fs.readFileSync(path.join(state, `metrics-${name}.prom`), "utf8"),
    noiseFile: path.join(etc, "health-noise.txt"),
  };
}

/** A syslog time stamp `minutesAgo` minutes ago, as Postfix and Dovecot write it. */
function stamp(minutesAgo = 0): string {
  const t = new Date(Date.now() - minutesAgo * 60_000);
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
    t.getMonth()
  ];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${month} ${String(t.getDate()).padStart(2, " ")} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
}
const postfix = (rest: string, minutesAgo = 0) => `${stamp(minutesAgo)} mail ${rest}`;
/** A Dovecot line as rsyslog writes it: tagged dovecot, and no "Info:" on info lines. */
const dovecot = (rest: string, minutesAgo = 0) =>
  `${stamp(minutesAgo)} mail dovecot: ${rest.replace(/^([^:]+): Info: /, "$1: ")}`;

/** An hour of the internet knocking: each line a class of noise, none of it a problem of this host. */
const SCANNERS: readonly string[] = [
  postfix(
    "postfix/smtpd[7698]: warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:../ssl/statem/statem_srvr.c:1664:",
  ),
  postfix("postfix/smtpd[7698]: SSL_accept error from scan.example.net[198.51.100.7]: -1"),
  postfix(
    "postfix/smtpd[7699]: warning: TLS library problem: error:0A0000C1:SSL routines::no shared cipher:../ssl/statem/statem_srvr.c:2220:",
  ),
  postfix("postfix/smtpd[7699]: SSL_accept error from unknown[203.0.113.9]: lost connection"),
  postfix(
    "postfix/tlsproxy[81]: warning: TLS library problem: error:0A00009C:SSL routines::http request:../ssl/record/ssl3_record.c:345:",
  ),
  dovecot(
    "imap-login: Info: Disconnected: Connection closed: SSL_accept() failed: error:0A000102:SSL routines::unsupported protocol (no auth attempts in 0 secs): user=<>, rip=198.51.100.7, lip=10.0.0.2, TLS handshaking: SSL_accept() failed",
  ),
  dovecot(
    "pop3-login: Error: Disconnected: TLS handshaking: SSL_accept() failed: error:0A00006C:SSL routines::bad key share (no auth attempts in 0 secs): user=<>, rip=198.51.100.7",
  ),
  dovecot(
    "imap-login: Info: Disconnected: Connection closed (no auth attempts in 1 secs): user=<>, rip=198.51.100.8, lip=10.0.0.2",
  ),
  postfix("postfix/smtpd[7700]: lost connection after CONNECT from unknown[198.51.100.9]"),
  postfix("postfix/submission/smtpd[7701]: lost connection after STARTTLS from unknown[198.51.100.9]"),
  postfix("postfix/smtpd[7702]: timeout after EHLO from unknown[198.51.100.9]"),
  postfix(
    "postfix/smtpd[7703]: improper command pipelining after CONNECT from unknown[198.51.100.10]: GET / HTTP/1.1\\r\\n",
  ),
  postfix("postfix/postscreen[8397]: PREGREET 26 after 0 from [198.51.100.11]:39510: EHLO bot.example\\r\\n"),
  postfix(
    "postfix/postscreen[8397]: COMMAND PIPELINING from [198.51.100.11]:39511 after EHLO: MAIL FROM:<a@b>\\r\\n",
  ),
  postfix(
    "postfix/postscreen[8397]: NOQUEUE: reject: RCPT from [198.51.100.11]:39510: 550 5.5.1 Protocol error; from=<bot@outside.test>, to=<alice@example.test>, proto=ESMTP, helo=<bot.example>",
  ),
  postfix("postfix/smtpd[7704]: warning: non-SMTP command from unknown[198.51.100.12]: GET / HTTP/1.1"),
  postfix(
    "postfix/smtpd[7705]: warning: hostname dyn-12.example.net does not resolve to address 198.51.100.13: Name or service not known",
  ),
  postfix("postfix/smtpd[7705]: warning: 198.51.100.14: address not listed for hostname mx.example.org"),
  dovecot(
    "imap-login: Info: Disconnected: Connection closed (auth failed, 3 attempts in 12 secs): user=<admin@example.test>, method=PLAIN, rip=198.51.100.15, lip=10.0.0.2, TLS",
  ),
  dovecot(
    "submission-login: Info: Aborted login (auth failed, 1 attempts in 2 secs): user=<info@example.test>, method=LOGIN, rip=198.51.100.15",
  ),
  postfix(
    "postfix/smtpd[7706]: warning: unknown[198.51.100.15]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=admin@example.test",
  ),
  postfix(
    "postfix/smtpd[7707]: warning: Connection rate limit exceeded: 61 from unknown[198.51.100.16] for service smtp",
  ),
  // A short LDAP outage: Dovecot loses the connection and gets it back within the minute.
  dovecot(
    "auth: Error: ldap(/etc/dovecot/dovecot-ldap.corp.example.test.conf.ext): Connection lost to LDAP server, reconnecting",
    1,
  ),
  dovecot(
    "auth: Error: ldap(/etc/dovecot/dovecot-ldap.corp.example.test.conf.ext): Can't connect to server: ldaps://ldap.example.test",
    1,
  ),
  // And the ordinary day of a mail server, which is not counted at all.
  postfix("postfix/smtpd[7708]: connect from mx.example.org[192.0.2.25]"),
  dovecot(
    "imap-login: Info: Login: user=<alice@example.test>, method=PLAIN, rip=192.0.2.30, lip=10.0.0.2, mpid=99, TLS",
  ),
];

const NOISE_LINE =
  /^ok +log noise: 24 line\(s\) since the last check \(tls-handshake 7, auth-failure 3, lost-connection 3, postscreen 3, ldap-blip 2, unresolved-client 2, no-auth-disconnect 1, non-smtp 1, pipelining 1, ratelimit 1\), not counted as problems$/m;

describe("mailstack-health against a fake host", () => {
  it("stays healthy through a log full of scanners, and counts them on a line of their own", () => {
    const host = fakeHost();
    host.log(SCANNERS);
    const r = host.run("--state", "cron");
    expect(r.out).toMatch(/^mailstack-health: .* at \S+: healthy$/m);
    expect(r.out).toMatch(/^ok +services: all 2 running \(postfix dovecot\)$/m);
    expect(r.out).toMatch(/^ok +mail log: 0 error\(s\), 0 warning\(s\) since the last check$/m);
    expect(r.out).toMatch(NOISE_LINE);
    expect(r.code, `${r.out}${r.err}`).toBe(0);
    expect(host.metrics("cron")).toMatch(/^mailstack_health_log_noise_lines 24$/m);
    expect(host.metrics("cron")).toMatch(/^mailstack_health_problems 0$/m);
    // The next check starts where this one stopped.
    expect(host.run("--state", "cron").out).toMatch(
      /^ok +log noise: 0 line\(s\) since the last check, not counted/m,
    );
  });

  it("fails on a real error among the noise, which is still counted apart", () => {
    const host = fakeHost();
    host.log([
      ...SCANNERS,
      postfix("postfix/smtpd[9001]: fatal: open /etc/postfix/main.cf: Permission denied"),
    ]);
    const r = host.run();
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(
      /^FAIL +mail log: 1 error\(s\), 0 warning\(s\) since the last check; the most frequent:$/m,
    );
    expect(r.out).toMatch(/^ +1 x postfix\/smtpd: fatal: open \/etc\/postfix\/main\.cf: Permission denied$/m);
    expect(r.out).toMatch(NOISE_LINE);
  });

  it("fails on a database lookup error, a warning that means mail waits", () => {
    const host = fakeHost();
    host.log([
      postfix(
        'postfix/trivial-rewrite[812]: warning: proxy:pgsql:/etc/postfix/sql/virtual_mailbox_domains.cf lookup error for "example.test"',
      ),
    ]);
    const r = host.run();
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^FAIL +mail log: 1 error\(s\), 0 warning\(s\)/m);
  });

  it("never takes a fatal error, a crash or a full disk for noise, whatever the classes say", () => {
    const host = fakeHost({
      settings: {
        noise: [{ name: "everything", pattern: "^postfix/|^imap", why: "a pattern far too wide" }],
      },
    });
    host.log([
      postfix("postfix/smtpd[1]: fatal: no SASL authentication mechanisms"),
      postfix("postfix/master[2]: warning: process /usr/lib/postfix/sbin/smtpd pid 3 killed by signal 11"),
      dovecot("imap(alice@example.test)<4><x>: Error: write(/var/mail/x) failed: No space left on device"),
      postfix("postfix/smtpd[5]: connect from unknown[198.51.100.9]"),
    ]);
    const r = host.run();
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^FAIL +mail log: 3 error\(s\), 0 warning\(s\)/m);
    expect(r.out).toMatch(/^ok +log noise: 1 line\(s\) since the last check \(everything 1\)/m);
  });

  it("takes an operator's class as written, backslashes and all", () => {
    const host = fakeHost({
      settings: {
        noise: [
          {
            name: "monitor",
            pattern: "^postfix/smtpd\\[[0-9]+\\]: warning: monitor\\.example\\.net sent \\\\r\\\\n$",
            why: "our monitor ends its probe with a bare CR LF",
          },
        ],
      },
    });
    host.log([postfix("postfix/smtpd[5]: warning: monitor.example.net sent \\r\\n")]);
    const r = host.run();
    expect(r.out).toMatch(/^ok +mail log: 0 error\(s\), 0 warning\(s\)/m);
    expect(r.out).toMatch(/^ok +log noise: 1 line\(s\) since the last check \(monitor 1\)/m);
  });

  it("counts warnings no class explains against maxLogWarnings, as before", () => {
    const host = fakeHost({ settings: { maxLogWarnings: 1 } });
    host.log([
      postfix("postfix/lmtp[8407]: warning: connect to private/dovecot-lmtp: No such file or directory"),
      postfix("postfix/lmtp[8408]: warning: connect to private/dovecot-lmtp: No such file or directory"),
    ]);
    const r = host.run();
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^FAIL +mail log: 0 error\(s\), 2 warning\(s\) since the last check: more than 1/m);
    expect(r.out).toMatch(/^ +2 x postfix\/lmtp: warning: connect to private\/dovecot-lmtp: No such file/m);
  });

  it("takes LDAP errors for an outage, and fails, past ldapBlipErrors or ldapBlipMinutes", () => {
    const lost = (minutesAgo: number) =>
      dovecot(
        "auth: Error: ldap(/etc/dovecot/dovecot-ldap.corp.example.test.conf.ext): Connection lost to LDAP server, reconnecting",
        minutesAgo,
      );
    // Three errors within a minute: a blip.
    const blip = fakeHost({ settings: { ldapBlipErrors: 3, ldapBlipMinutes: 5 } });
    blip.log([lost(1), lost(1), lost(0)]);
    const ok = blip.run();
    expect(ok.out).toMatch(/^ok +log noise: 3 line\(s\) since the last check \(ldap-blip 3\)/m);
    expect(ok.code, ok.out).toBe(0);
    // Four: too many.
    const many = fakeHost({ settings: { ldapBlipErrors: 3, ldapBlipMinutes: 5 } });
    many.log([lost(1), lost(1), lost(0), lost(0)]);
    const r1 = many.run();
    expect(r1.code, r1.out).toBe(1);
    expect(r1.out).toMatch(/^FAIL +mail log: 4 error\(s\), 0 warning\(s\)/m);
    expect(r1.out).toMatch(/^ +LDAP: 4 connection error\(s\) over [01] min, more than a short outage/m);
    expect(r1.out).toMatch(/^ok +log noise: 0 line\(s\)/m);
    // Two, ten minutes apart: it went on.
    const long = fakeHost({ settings: { ldapBlipErrors: 3, ldapBlipMinutes: 5 } });
    long.log([lost(12), lost(2)]);
    const r2 = long.run();
    expect(r2.code, r2.out).toBe(1);
    expect(r2.out).toMatch(/^ +LDAP: 2 connection error\(s\) over (9|10) min, more than a short outage/m);
  });

  it("still fails on a stopped daemon, a full queue and an expiring certificate", () => {
    const host = fakeHost({
      running: ["postfix"],
      queue: [
        { id: "4XyZ1a2B3c", minutesAgo: 5 },
        { id: "4XyZ1a2B3d", minutesAgo: 1 },
      ],
      settings: { maxQueue: 1 },
      cert: certs.expiring,
    });
    host.log(SCANNERS);
    const r = host.run();
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^mailstack-health: .* at \S+: 3 problem\(s\)$/m);
    expect(r.out).toMatch(
      /^FAIL +services: dovecot is not running; see its log, then start it: systemctl start dovecot$/m,
    );
    expect(r.out).toMatch(
      /^FAIL +queue: 2 message\(s\), the oldest 5 min old: more than 1 \(mailstack:health maxQueue\)/m,
    );
    expect(r.out).toMatch(
      /^FAIL +tls: .*cert-3\.pem expires in 2 day\(s\) .*, under 14 \(mailstack:health certMinDays\)/m,
    );
    expect(r.out).toMatch(/^ok +mail log: 0 error\(s\)/m);
    expect(r.out).toMatch(NOISE_LINE);
  });

  it("reads its noise classes first, and stops on one awk cannot read rather than miss lines", () => {
    const host = fakeHost();
    const good = host.run("--check-config");
    expect(good.out).toMatch(/health-noise\.txt \(17 noise pattern\(s\)\) read$/m);
    expect(good.code, good.err).toBe(0);
    fs.appendFileSync(host.noiseFile, "broken ^postfix/smtpd\\[(\n");
    host.log([postfix("postfix/smtpd[1]: fatal: something")]);
    for (const args of [["--check-config"], []]) {
      const r = host.run(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(/health-noise\.txt: .*regular expression compile failed/);
    }
  });
});

// The privileges check, run by the real script (as root, psql as postgres, as
// on the host) against a throwaway cluster provisioned as preprovisioned mode
// does: roles.sql, the migrations and the table grants as the owner.
describe("mailstack-health's privileges check against a real PostgreSQL", () => {
  let pg: TestPostgres;
  const DB = DATABASE_SPEC.database;
  const sql = (statement: string) => pg.query(statement, { database: DB });
  beforeAll(() => {
    pg = startPostgres();
    provisionMailDatabase(pg, DATABASE_SPEC);
    sql(`SET ROLE ${DATABASE_SPEC.owner};\n${renderTableGrantsSql(DATABASE_SPEC)}`);
  }, 120_000);
  afterAll(() => pg?.stop(), 60_000);
  const check = () => fakeHost({ database: pg }).run("--state", "privileges");

  it("finds nothing when the database holds exactly the declared privileges", () => {
    const r = check();
    expect(r.out).toMatch(
      /^ok +privileges: \d+ privilege\(s\) in database mailserver, as the stack declares them$/m,
    );
    expect(r.out).toMatch(/: healthy$/m);
    expect(r.code, r.out + r.err).toBe(0);
  });

  it.each([
    [
      "a column granted by hand",
      "GRANT SELECT (password_hash) ON virtual_users TO postfix_lookup",
      "REVOKE SELECT (password_hash) ON virtual_users FROM postfix_lookup",
      "postfix_lookup holds SELECT on column public.virtual_users.password_hash, which the stack does not grant",
    ],
    [
      "a declared privilege that is gone",
      "REVOKE SELECT (email) ON virtual_users FROM dovecot_lookup",
      "GRANT SELECT (email) ON virtual_users TO dovecot_lookup",
      "dovecot_lookup lacks SELECT on column public.virtual_users.email, which the stack grants",
    ],
  ])("names %s, and is healthy again once it is undone", (_what, change, undo, finding) => {
    sql(change);
    try {
      const r = check();
      expect(r.code, r.out).toBe(1);
      expect(r.out.match(/^FAIL +.*$/gm)).toEqual([`FAIL  privileges: ${finding}`]);
      expect(r.out).toMatch(/^ {6}see who holds what: runuser -u postgres -- psql -d mailserver -c '\\dp'/m);
    } finally {
      sql(undo);
    }
    expect(check().code).toBe(0);
  });

  it("sees what PUBLIC and roles outside the stack are given, and default privileges", () => {
    sql(
      [
        "GRANT USAGE ON SCHEMA public TO PUBLIC",
        "CREATE ROLE reporting LOGIN",
        "GRANT SELECT ON domains TO reporting",
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${DATABASE_SPEC.owner} IN SCHEMA public GRANT SELECT ON TABLES TO postfix_lookup`,
      ].join(";\n"),
    );
    try {
      const r = check();
      expect(r.code, r.out).toBe(1);
      for (const finding of [
        "PUBLIC holds USAGE on schema public",
        "reporting holds SELECT on column public.domains.domain_name",
        "postfix_lookup holds SELECT on default techmail.public.tables",
      ]) {
        expect(r.out).toContain(`privileges: ${finding}, which the stack does not grant`);
      }
      // reporting's SELECT on each column of domains, and more: past ten, a count.
      expect(r.out).toMatch(/^FAIL +privileges: 2 more privilege\(s\) differ$/m);
    } finally {
      sql(
        [
          "REVOKE USAGE ON SCHEMA public FROM PUBLIC",
          "DROP OWNED BY reporting",
          "DROP ROLE reporting",
          `ALTER DEFAULT PRIVILEGES FOR ROLE ${DATABASE_SPEC.owner} IN SCHEMA public REVOKE SELECT ON TABLES FROM postfix_lookup`,
        ].join(";\n"),
      );
    }
    expect(check().code).toBe(0);
  });

  it("fails, rather than passes, when it cannot ask PostgreSQL", () => {
    const r = fakeHost({ database: { ...pg, socketDir: "/nonexistent" } }).run("--state", "privileges");
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(
      /^FAIL +privileges: cannot read the privileges in database mailserver: .*nonexistent/m,
    );
  });

  it("does not ask when the database is not on this host", () => {
    expect(fakeHost().run("--state", "privileges").out).toMatch(
      /^ok +privileges: not checked \(the mail database is not on this host\)$/m,
    );
  });
});
