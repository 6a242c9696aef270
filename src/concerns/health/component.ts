// The health check (mailstack-health) on the mail host: services, queue,
// mail log, certificate, backup age and the published DNS records, by hand
// or on a schedule. The script is files/health/mailstack-health.sh; this
// component renders its settings and the records it expects.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions, raw } from "../../core/remote";
import { render } from "../../core/template";
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

export interface HealthConfValues {
  readonly settings: HealthSettings;
  readonly services: readonly string[];
  readonly cert: string;
  readonly backup: boolean;
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
    cert: shellQuote(v.cert),
    certMinDays: s.certMinDays,
    backup: v.backup ? "yes" : "no",
    checkDns: s.checkDns ? "yes" : "no",
    dnsServer: shellQuote(s.dnsServer),
  });
}

/** /etc/cron.d/mailstack-health. Pure. */
export function renderHealthCron(s: HealthSettings): string {
  const entry =
    s.everyMinutes === 0
      ? "# Off (mailstack:health everyMinutes 0): run mailstack-health by hand."
      : `*/${s.everyMinutes} * * * * root /usr/local/sbin/mailstack-health --state cron --quiet 2>&1 | logger -t mailstack-health`;
  return render("health/cron", { entry });
}

export interface HealthArgs {
  readonly connection: HostConnection;
  readonly settings: HealthSettings;
  /** The services that must run. */
  readonly services: readonly string[];
  /** The certificate the mail ports serve. */
  readonly certPath: string;
  /** Whether backups run on the host. */
  readonly backup: boolean;
  /** The records the stack publishes. */
  readonly dnsRecords: pulumi.Input<readonly DnsRecord[]>;
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class HealthCheck extends pulumi.ComponentResource {
  /** Installed versions of dig's package and cron. */
  readonly versions: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: HealthArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:health:HealthCheck", name, {}, opts);
    // dig, for the DNS check; cron, for the schedule.
    const packages = installPackages(`${name}-packages`, args.connection, ["bind9-dnsutils", "cron"], {
      parent: this,
      dependsOn: [...(args.dependsOn ?? [])],
    });
    new ConfigPush(
      `${name}-config`,
      {
        connection: args.connection,
        files: [
          {
            path: "/etc/mailstack/health.conf",
            content: renderHealthConf({
              settings: args.settings,
              services: args.services,
              cert: args.certPath,
              backup: args.backup,
            }),
          },
          {
            path: "/etc/mailstack/health-dns.txt",
            content: pulumi.output(args.dnsRecords).apply((r) => renderDnsExpectations(r)),
          },
          {
            path: "/usr/local/sbin/mailstack-health",
            content: raw("health/mailstack-health.sh"),
            mode: "0755",
          },
          { path: "/etc/cron.d/mailstack-health", content: renderHealthCron(args.settings) },
        ],
        check: ["bash -n /etc/mailstack/health.conf", "bash -n /usr/local/sbin/mailstack-health"],
        // Starts cron where nothing did (a host without systemd).
        reload: { service: "cron", action: "reload" },
      },
      { parent: this, dependsOn: [packages] },
    );
    this.versions = packages.stdout.apply(parseVersions);
    this.registerOutputs({ versions: this.versions });
  }
}
