// The root component: one mail stack on one host. It turns the typed stack
// config into the per-concern components and gathers the audit outputs.
import * as pulumi from "@pulumi/pulumi";
import { Backup, DEFAULT_S3_REGION, MailStorage, type StorageAudit } from "./concerns/backup";
import { MailDatabase } from "./concerns/database";
import { DkimKeys, dkimRecords } from "./concerns/dkim";
import { MailDns } from "./concerns/dns";
import { Dovecot, DovecotObox } from "./concerns/dovecot";
import { Fail2ban } from "./concerns/fail2ban";
import { Clamav, Rspamd } from "./concerns/filter";
import { HealthCheck } from "./concerns/health";
import { MailHost, type OpenPort } from "./concerns/host";
import { Postfix } from "./concerns/postfix";
import {
  AcmeCertificate,
  BootstrapCertificate,
  certificateNames,
  spkiSha256,
  WebServer,
} from "./concerns/tls";
import type { StackConfig } from "./config";
import { MAIL_PORTS, RSPAMD_MILTER } from "./core/host-layout";
import type { HostConnection } from "./core/push";
import type { TunnelOpener } from "./core/tunnel";

/** The root component's type token: the first part of every URN in the stack (scripts/db-adopt.ts). */
export const MAILSTACK_TYPE = "mailstack:index:MailStack";
/** The root component's name (index.ts). */
export const MAILSTACK_NAME = "mail";

/** The MailDatabase's name under a MailStack named `name`. Pure. */
export function databaseComponentName(name: string): string {
  return `${name}-db`;
}

export interface MailStackArgs {
  readonly config: StackConfig;
  /** The deploy key, a secret Output. */
  readonly privateKey: pulumi.Output<string>;
  /** The LDAP search account's password, a secret Output; required when config.ldap is set. */
  readonly ldapBindPassword?: pulumi.Output<string>;
  /** Opens managed mode's SSH tunnel. Default the real one (tests pass a stand-in). */
  readonly tunnel?: TunnelOpener;
  /** A private ACME server's HTTPS CA (PEM), read from mailstack:acmeCaBundlePath. */
  readonly acmeCaBundle?: string;
}

/** Mail ports plus SSH, sorted: exactly what the firewall opens. Pure. */
export function openPorts(sshPort: number): OpenPort[] {
  return [...MAIL_PORTS, { port: sshPort, service: "ssh" }].sort((a, b) => a.port - b.port);
}

/** The daemons mailstack-health expects to run; PostgreSQL only when it is the host's own. Pure. */
export function healthServices(localDatabase: boolean): string[] {
  return [
    "ssh",
    "cron",
    "rsyslog",
    ...(localDatabase ? ["postgresql"] : []),
    "redis-server",
    "rspamd",
    "clamav-daemon",
    "postfix",
    "dovecot",
    "nginx",
    "fail2ban",
  ];
}

/**
 * Every component's package versions as one record, sorted by package name so
 * the output reads the same on every run. A package two components install
 * (cron) is one dpkg entry on the host; should their records still disagree,
 * the later in `records` wins. Pure.
 */
export function mergeVersions(records: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const merged = Object.assign({}, ...records) as Record<string, string>;
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export class MailStack extends pulumi.ComponentResource {
  /** Audit outputs. None of them holds a secret. */
  readonly host: string;
  readonly hostname: string;
  readonly openPorts: readonly OpenPort[];
  readonly domains: readonly string[];
  readonly os: pulumi.Output<string>;
  /** Package name to installed version, from every component that installs packages. */
  readonly versions: pulumi.Output<Record<string, string>>;
  readonly database: { readonly mode: string; readonly postgresVersion: number };
  readonly migrations: pulumi.Output<string>;
  /** Each mail domain's records as a BIND zone fragment. */
  readonly dnsZones: pulumi.Output<Record<string, string>>;
  /** The PTR to ask the hosting provider for, and whether outbound port 25 is needed. */
  readonly deliverability: MailDns["deliverability"];
  /** Every published DKIM selector's TXT record, for DNS; the signing ones marked. */
  readonly dkimRecords: pulumi.Output<
    { readonly name: string; readonly value: string; readonly signing: boolean }[]
  >;
  /** Where backups go, and how often; "none" without storage. No secret in it. */
  readonly backup:
    | "none"
    | {
        readonly storage: StorageAudit;
        readonly repository: pulumi.Output<string>;
        readonly schedule: string;
        readonly keep: {
          readonly last: number;
          readonly daily: number;
          readonly weekly: number;
          readonly monthly: number;
        };
      };
  /** The certificate: where it comes from, what it covers, and what renews it. */
  readonly tls: {
    readonly acmeServer: string;
    readonly names: readonly string[];
    readonly certificate: pulumi.Output<string>;
    readonly renewal: pulumi.Output<string>;
  };

  constructor(name: string, args: MailStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super(MAILSTACK_TYPE, name, {}, opts);
    const cfg = args.config;
    const connection: HostConnection = {
      host: cfg.ssh.host,
      port: cfg.ssh.port,
      user: cfg.ssh.user,
      privateKey: args.privateKey,
    };
    const ports = openPorts(cfg.ssh.port);

    const host = new MailHost(
      `${name}-host`,
      {
        connection,
        os: cfg.os,
        hostname: cfg.hostname,
        timezone: cfg.timezone,
        openPorts: ports,
        sshdOptions: cfg.sshdOptions,
        dbPort: cfg.database.port,
        unattendedUpgrades: cfg.unattendedUpgrades,
      },
      { parent: this },
    );

    const database = new MailDatabase(
      databaseComponentName(name),
      {
        connection,
        os: cfg.os,
        config: cfg.database,
        domains: cfg.domains,
        accounts: cfg.accounts,
        dependsOn: host.ready,
        ...(args.tunnel ? { tunnel: args.tunnel } : {}),
      },
      { parent: this },
    );

    // The daemons need a certificate on their first start; certbot replaces it later.
    const tls = new BootstrapCertificate(
      `${name}-tls`,
      { connection, hostname: cfg.hostname },
      { parent: this, dependsOn: [...host.ready] },
    );

    // Postfix first: Dovecot's LMTP and auth sockets live in Postfix's spool
    // directory and belong to the postfix user, which its package makes.
    // Postfix itself starts without them; mail that arrives in between waits
    // in its queue.
    // The filter before Postfix, which hands it every message from the start.
    const clamav = new Clamav(
      `${name}-clamav`,
      {
        connection,
        updates: cfg.filter.clamavUpdates,
        messageSizeLimit: cfg.postfix.messageSizeLimit,
        dependsOn: [...host.ready],
      },
      { parent: this },
    );
    const dkim = new DkimKeys(
      `${name}-dkim`,
      { domains: cfg.dkim, importedKeys: cfg.dkimPrivateKeys },
      { parent: this },
    );
    const rspamd = new Rspamd(
      `${name}-rspamd`,
      {
        connection,
        dkimKeys: dkim.keys,
        actions: cfg.filter.actions,
        greylisting: cfg.filter.greylisting,
        networkChecks: cfg.filter.networkChecks,
        testPatterns: cfg.filter.testPatterns,
        messageSizeLimit: cfg.postfix.messageSizeLimit,
        dependsOn: [clamav.ready],
      },
      { parent: this },
    );

    const postfix = new Postfix(
      `${name}-postfix`,
      {
        connection,
        hostname: cfg.hostname,
        certPath: tls.certPath,
        keyPath: tls.keyPath,
        messageSizeLimit: cfg.postfix.messageSizeLimit,
        milter: RSPAMD_MILTER,
        dependsOn: [database, tls.ready, rspamd.ready],
      },
      { parent: this },
    );
    const dovecot = new Dovecot(
      `${name}-dovecot`,
      {
        connection,
        certPath: tls.certPath,
        keyPath: tls.keyPath,
        postmaster: cfg.adminEmail,
        messageSizeLimit: cfg.postfix.messageSizeLimit,
        obox: cfg.obox !== undefined,
        ...(cfg.ldap
          ? {
              ldap: {
                uris: cfg.ldap.uris,
                bindDn: cfg.ldap.bindDn,
                fallback: cfg.ldap.fallback,
                domains: cfg.domains.flatMap((d) =>
                  d.authType === "ldap" && d.ldapBaseDn ? [{ name: d.name, baseDn: d.ldapBaseDn }] : [],
                ),
              },
              ...(args.ldapBindPassword ? { ldapBindPassword: args.ldapBindPassword } : {}),
            }
          : {}),
        dependsOn: [database, tls.ready, postfix.ready],
      },
      { parent: this },
    );

    // nginx: the ACME webroot, MTA-STS and the mail clients' setup files.
    const activeDomains = cfg.domains.filter((d) => d.active).map((d) => d.name);
    const web = new WebServer(
      `${name}-web`,
      {
        connection,
        hostname: cfg.hostname,
        domains: activeDomains,
        mtaSts: cfg.dns.mtaSts,
        ipv6: cfg.dns.ipv6 !== undefined,
        certPath: tls.certPath,
        keyPath: tls.keyPath,
        dependsOn: [...host.ready, tls.ready],
      },
      { parent: this },
    );
    // The CA's certificate replaces the bootstrap one once every daemon that
    // serves it runs: certbot's deploy hook reloads them all.
    const names = certificateNames(cfg.hostname, activeDomains);
    const acme = cfg.tls.acmeServer
      ? new AcmeCertificate(
          `${name}-acme`,
          {
            connection,
            names,
            settings: {
              server: cfg.tls.acmeServer,
              challenge: cfg.tls.challenge,
              email: cfg.adminEmail,
              reuseKey: cfg.tls.tlsa,
              ...(args.acmeCaBundle ? { caBundle: args.acmeCaBundle } : {}),
            },
            ...(cfg.tls.cloudflareApiToken ? { cloudflareApiToken: cfg.tls.cloudflareApiToken } : {}),
            dependsOn: [web.ready, postfix.ready, dovecot.ready],
          },
          { parent: this },
        )
      : undefined;
    const certificate = acme ? acme.summary : tls.summary;
    this.tls = {
      acmeServer: cfg.tls.acmeServer ?? "none (self-signed)",
      names: acme ? names : [cfg.hostname],
      certificate,
      renewal: acme ? acme.renewal : pulumi.output("none: self-signed, no renewal"),
    };

    // The bucket: backups go there, and in obox mode the mail itself.
    const storage =
      cfg.storage.mode !== "none"
        ? new MailStorage(`${name}-storage`, cfg.storage, { parent: this })
        : undefined;
    if (cfg.obox && storage && cfg.storage.mode !== "none") {
      new DovecotObox(
        `${name}-obox`,
        {
          connection,
          settings: {
            ...cfg.obox,
            endpoint: cfg.storage.endpoint,
            bucket: cfg.storage.bucket,
            region: cfg.storage.region ?? DEFAULT_S3_REGION,
          },
          accessKeyId: storage.target.accessKeyId,
          secretAccessKey: storage.target.secretAccessKey,
          dependsOn: [dovecot.ready, storage],
        },
        { parent: this },
      );
    }
    // Backups into the bucket: every daemon whose data they hold is in place first.
    let backup: Backup | undefined;
    if (storage && cfg.backup.password) {
      backup = new Backup(
        `${name}-backup`,
        {
          connection,
          settings: cfg.backup.settings,
          target: storage.target,
          password: cfg.backup.password,
          dependsOn: [database, dovecot.ready, rspamd.ready, storage],
        },
        { parent: this },
      );
      const s = cfg.backup.settings;
      this.backup = {
        storage: storage.audit,
        repository: backup.repository,
        schedule: s.schedule === "off" ? "off" : `daily at ${s.schedule}`,
        keep: { last: s.keepLast, daily: s.keepDaily, weekly: s.keepWeekly, monthly: s.keepMonthly },
      };
    } else {
      this.backup = "none";
    }

    // Last: it bans through the firewall and reads the logs the others write.
    const fail2ban = new Fail2ban(
      `${name}-fail2ban`,
      {
        connection,
        settings: cfg.fail2ban,
        sshPort: cfg.ssh.port,
        dependsOn: [...host.ready, postfix.ready, dovecot.ready],
      },
      { parent: this },
    );

    const dns = new MailDns(
      `${name}-dns`,
      {
        hostname: cfg.hostname,
        ...(cfg.dns.ipv4 ? { ipv4: cfg.dns.ipv4 } : {}),
        ...(cfg.dns.ipv6 ? { ipv6: cfg.dns.ipv6 } : {}),
        domains: cfg.domains.filter((d) => d.active).map((d) => d.name),
        spf: cfg.dns.spf,
        dmarc: cfg.dns.dmarc,
        mtaSts: cfg.dns.mtaSts,
        tlsRptRua: [`mailto:${cfg.adminEmail}`],
        caaIssuer: cfg.dns.caaIssuer,
        dkim: dkim.keys.map((k) => ({ name: k.record.name, value: k.record.value })),
        ...(cfg.tls.tlsa ? { tlsaSpki: certificate.apply(spkiSha256) } : {}),
        ...(cfg.dns.cloudflare ? { cloudflare: cfg.dns.cloudflare } : {}),
      },
      { parent: this },
    );
    this.dnsZones = dns.zones;

    // mailstack-health: every daemon above, the queue, the log, the
    // certificate, the backups and these records.
    const health = new HealthCheck(
      `${name}-health`,
      {
        connection,
        settings: cfg.health,
        services: healthServices(cfg.database.host === undefined),
        localDatabase: cfg.database.host === undefined,
        certPath: tls.certPath,
        backup: this.backup !== "none",
        dnsRecords: dns.records,
        dependsOn: [fail2ban, ...(acme ? [acme] : [])],
      },
      { parent: this },
    );
    this.deliverability = dns.deliverability;

    this.host = cfg.ssh.host;
    this.hostname = cfg.hostname;
    this.openPorts = ports;
    this.domains = cfg.domains.map((d) => d.name);
    this.os = host.os;
    // Every component that installs packages, in the order declared above (see mergeVersions).
    const installers = [
      host,
      database,
      clamav,
      rspamd,
      postfix,
      dovecot,
      web,
      acme,
      backup,
      fail2ban,
      health,
    ];
    this.versions = pulumi.all(installers.flatMap((c) => (c ? [c.versions] : []))).apply(mergeVersions);
    this.database = { mode: cfg.database.mode, postgresVersion: database.postgresVersion };
    this.migrations = database.migrations;
    this.dkimRecords = pulumi.all(
      dkimRecords(dkim.keys).map((r) =>
        r.value.apply((value) => ({
          name: r.name,
          value,
          signing: dkim.keys.some((k) => k.domain === r.domain && k.selector === r.selector && k.signing),
        })),
      ),
    );
    this.registerOutputs({
      database: this.database,
      migrations: this.migrations,
      dkimRecords: this.dkimRecords,
      dnsZones: this.dnsZones,
      deliverability: this.deliverability,
      tls: this.tls,
      backup: this.backup,
      host: this.host,
      hostname: this.hostname,
      openPorts: this.openPorts,
      domains: this.domains,
      os: this.os,
      versions: this.versions,
    });
  }
}
