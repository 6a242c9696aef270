// The health check (mailstack-health) on the mail host: services, queue,
// mail log, certificate, backup age, the published DNS records and the mail
// database's privileges, by hand or on a schedule. The script is
// files/health/mailstack-health.sh; this component pushes it with its
// settings, its log noise classes, the records and the privileges it expects
// (rendered in render.ts) and the query that reads the live privileges.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, raw } from "../../core/remote";
import { DATABASE_SPEC, type DatabaseSpec } from "../database/spec";
import type { DnsRecord } from "../dns/records";
import {
  renderDnsExpectations,
  renderHealthConf,
  renderHealthCron,
  renderHealthNoise,
  renderPrivilegeExpectations,
} from "./render";
import type { HealthSettings } from "./settings";

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
  /** Whether the mail database is this host's own, so its privileges are checked. Default false. */
  readonly localDatabase?: boolean;
  /** The mail database's roles and grants. Default DATABASE_SPEC. */
  readonly databaseSpec?: DatabaseSpec;
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class HealthCheck extends pulumi.ComponentResource {
  /** Installed versions of dig's package and cron. */
  readonly versions: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: HealthArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:health:HealthCheck", name, {}, opts);
    const spec = args.databaseSpec ?? DATABASE_SPEC;
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
              ...(args.localDatabase === true ? { database: spec.database } : {}),
            }),
          },
          { path: "/etc/mailstack/health-noise.txt", content: renderHealthNoise(args.settings) },
          {
            path: "/etc/mailstack/health-dns.txt",
            content: pulumi.output(args.dnsRecords).apply((r) => renderDnsExpectations(r)),
          },
          { path: "/etc/mailstack/health-privileges.txt", content: renderPrivilegeExpectations(spec) },
          // Read by root and fed to psql, so postgres needs no access to it.
          {
            path: "/usr/local/lib/mailstack/privilege-matrix.sql",
            content: raw("postgres/privilege-matrix.sql"),
          },
          {
            path: "/usr/local/sbin/mailstack-health",
            content: raw("health/mailstack-health.sh"),
            mode: "0755",
          },
          { path: "/etc/cron.d/mailstack-health", content: renderHealthCron(args.settings) },
        ],
        // The last reads the settings and compiles every noise pattern with the host's awk.
        check: [
          "bash -n /etc/mailstack/health.conf",
          "bash -n /usr/local/sbin/mailstack-health",
          "/usr/local/sbin/mailstack-health --check-config",
        ],
        // Starts cron where nothing did (a host without systemd).
        reload: { service: "cron", action: "reload" },
      },
      { parent: this, dependsOn: [packages] },
    );
    this.versions = packages.stdout.apply(parseVersions);
    this.registerOutputs({ versions: this.versions });
  }
}
