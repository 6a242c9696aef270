// mailstack-health's files, rendered from typed values: its settings, its
// schedule, its log noise classes, the DNS records and the database
// privileges it expects. Pure: no config, no Pulumi.
import { shellQuote } from "../../core/shell";
import { render } from "../../core/template";
import { type DatabaseSpec, declaredPrivileges } from "../database/spec";
import { type DnsRecord, rdata } from "../dns/records";
import type { HealthSettings } from "./settings";

/**
 * What DNS answers for a record, as `dig +short` prints it (normalised like
 * the script does): the zone file's RDATA, except an AAAA in its canonical
 * form, TLSA hex in lower case and TXT unquoted and joined. Pure.
 */
export function servedForm(r: DnsRecord): string {
  switch (r.type) {
    case "AAAA":
      return new URL(`http://[${r.value}]/`).hostname.slice(1, -1);
    case "TLSA":
      return r.value.toLowerCase();
    case "TXT":
      return r.value;
    default:
      return rdata(r);
  }
}

/** /etc/mailstack/health-dns.txt: "<name> <type> <value>" per record. Pure. */
export function renderDnsExpectations(records: readonly DnsRecord[]): string {
  const lines = records.map((r) => `${r.name} ${r.type} ${servedForm(r)}`);
  for (const l of lines) {
    if (l.includes("\n")) throw new Error(`health: a DNS record value spans lines: ${l}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * /etc/mailstack/health-privileges.txt: the privilege matrix the spec
 * declares, "<grantee> <privilege> <kind> <object>" per line, sorted. Pure.
 */
export function renderPrivilegeExpectations(spec: DatabaseSpec): string {
  const rows = declaredPrivileges(spec).map((r) => `${r.grantee} ${r.privilege} ${r.kind} ${r.object}`);
  return render("health/health-privileges.txt", {
    database: spec.database,
    rows: [...new Set(rows)].sort().join("\n"),
  });
}

export interface HealthConfValues {
  readonly settings: HealthSettings;
  readonly services: readonly string[];
  readonly cert: string;
  readonly backup: boolean;
  /** The mail database whose privileges are checked; none when it is not on this host. */
  readonly database?: string;
}

/** /etc/mailstack/health.conf. Pure. */
export function renderHealthConf(v: HealthConfValues): string {
  const s = v.settings;
  return render("health/health.conf", {
    services: shellQuote(v.services.join(" ")),
    maxQueue: s.maxQueue,
    maxQueueAgeMinutes: s.maxQueueAgeMinutes,
    mailLog: "/var/log/mail.log",
    maxLogWarnings: s.maxLogWarnings,
    ldapBlipErrors: s.ldapBlipErrors,
    ldapBlipMinutes: s.ldapBlipMinutes,
    cert: shellQuote(v.cert),
    certMinDays: s.certMinDays,
    backup: v.backup ? "yes" : "no",
    checkDns: s.checkDns ? "yes" : "no",
    dnsServer: shellQuote(s.dnsServer),
    privilegesDatabase: shellQuote(v.database ?? ""),
  });
}

/**
 * /etc/mailstack/health-noise.txt: the stack's noise classes, then the
 * operator's (mailstack:health noise, sorted by parse), each under its why.
 * Pure.
 */
export function renderHealthNoise(s: HealthSettings): string {
  const extra = s.noise.map((c) => {
    if (/[\r\n]/.test(c.name + c.pattern + c.why)) {
      throw new Error(`health: noise class ${c.name} spans lines`);
    }
    return `# ${c.why}\n${c.name} ${c.pattern}`;
  });
  return render("health/health-noise.txt", { extra: extra.length > 0 ? extra.join("\n") : "# (none)" });
}

/** /etc/cron.d/mailstack-health. Pure. */
export function renderHealthCron(s: HealthSettings): string {
  const entry =
    s.everyMinutes === 0
      ? "# Off (mailstack:health everyMinutes 0): run mailstack-health by hand."
      : `*/${s.everyMinutes} * * * * root /usr/local/sbin/mailstack-health --state cron --quiet 2>&1 | logger -t mailstack-health`;
  return render("health/cron", { entry });
}
