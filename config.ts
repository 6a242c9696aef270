// The stack's configuration, read once and validated before anything is created.
//
// `CONFIG_KEYS` is the single list of keys: Pulumi.yaml declares the same keys
// (a unit test keeps the two in step), `parseConfig` is a pure function that
// turns raw strings into one typed object or throws a `ConfigError` naming
// every bad key and its fix, and `loadConfig` is the only place that talks to
// Pulumi's config system.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type AcmeChallenge, LETSENCRYPT, LETSENCRYPT_STAGING } from "./components/acme";
import { type BackupSettings, backupProblems, DEFAULT_BACKUP } from "./components/backup";
import {
  DEFAULT_DMARC,
  DEFAULT_MTA_STS,
  DEFAULT_SPF,
  type DmarcSettings,
  dmarcProblems,
  type MtaStsSettings,
  mtaStsProblems,
  type SpfSettings,
  spfProblems,
} from "./components/dns-records";
import { DEFAULT_FAIL2BAN, type Fail2banSettings, fail2banProblems } from "./components/fail2ban";
import { DEFAULT_HEALTH, type HealthSettings, healthProblems } from "./components/health";
import { DEFAULT_OBOX, type OboxOptions, oboxProblems } from "./components/obox";
import { DEFAULT_SPAM_ACTIONS, type SpamActions, validateSpamActions } from "./components/rspamd";
import {
  bucketNameProblem,
  DEFAULT_S3_REGION,
  DEFAULT_VERSION_RETENTION_DAYS,
  defaultBucketName,
  endpointProblem,
  MAX_VERSION_RETENTION_DAYS,
  type MailStorageArgs,
  normalizeEndpoint,
  regionProblem,
} from "./components/storage";

export const NAMESPACE = "mailstack";

type KeyType = "string" | "integer" | "boolean" | "array" | "object";

export interface KeySpec {
  readonly type: KeyType;
  /** For arrays: the type of each item. */
  readonly items?: "string" | "object";
  readonly description: string;
  /** The key has no default and the stack cannot run without it. */
  readonly required?: boolean;
  /** The value must be stored with `pulumi config set --secret`. */
  readonly secret?: boolean;
  /** Shown in error messages as a working `pulumi config set` example. */
  readonly example: string;
  /**
   * Pulumi.yaml's default for an optional key (Pulumi requires every declared
   * key without one). An empty string means "not set".
   */
  readonly default?: string | number | boolean | Record<string, never> | readonly never[];
}

export const CONFIG_KEYS = {
  host: {
    type: "string",
    required: true,
    description: "Address the deployment reaches the mail host at over SSH (IPv4, IPv6 or DNS name).",
    example: "203.0.113.25",
  },
  sshPort: {
    type: "integer",
    default: 22,
    description: "Port sshd listens on; the firewall opens it. Default 22.",
    example: "22",
  },
  sshUser: {
    type: "string",
    default: "root",
    description: "Login used for deployment; it must be root or have passwordless sudo. Default root.",
    example: "root",
  },
  sshPrivateKey: {
    type: "string",
    default: "",
    secret: true,
    description: "Private key (OpenSSH format) of the deploy login. Secret. Set this or sshPrivateKeyPath.",
    example: "--secret mailstack:sshPrivateKey < ~/.ssh/id_ed25519",
  },
  sshPrivateKeyPath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of the deploy login's private key. Set this or sshPrivateKey.",
    example: "~/.ssh/id_ed25519",
  },
  hostname: {
    type: "string",
    required: true,
    description: "Fully qualified name of the mail host; also used as /etc/mailname.",
    example: "mail.tlabs.team",
  },
  timezone: {
    type: "string",
    default: "UTC",
    description: "IANA time zone of the host, such as Asia/Seoul. Default UTC.",
    example: "Asia/Seoul",
  },
  adminEmail: {
    type: "string",
    required: true,
    description: "Operator's address for certificates, reports and root's mail.",
    example: "postmaster@tlabs.team",
  },
  domains: {
    type: "array",
    items: "object",
    required: true,
    description: 'Mail domains served by the host, each an object such as {"name": "tlabs.team"}.',
    example: "--path 'domains[0].name' tlabs.team",
  },
  sshdOptions: {
    type: "object",
    default: {},
    description:
      'Extra sshd_config settings, such as {"AllowUsers": "root ops"}; checked with sshd -t. Default none.',
    example: "--path 'sshdOptions.AllowUsers' 'root ops'",
  },
  unattendedUpgrades: {
    type: "boolean",
    default: true,
    description: "Install Debian/Ubuntu security updates automatically every day. Default true.",
    example: "true",
  },
  os: {
    type: "string",
    default: "debian12",
    description:
      "The mail host's OS: debian12 or ubuntu2204. It picks PostgreSQL 15 or 14. Default debian12.",
    example: "ubuntu2204",
  },
  dbMode: {
    type: "string",
    default: "managed",
    description:
      "managed: the stack makes the roles and database with @pulumi/postgresql; preprovisioned: a DBA ran files/postgres/roles.sql. Default managed.",
    example: "preprovisioned",
  },
  dbHost: {
    type: "string",
    default: "",
    description:
      "External PostgreSQL host for managed mode; empty means the mail host's own, through an SSH tunnel.",
    example: "db.tlabs.team",
  },
  dbPort: {
    type: "integer",
    default: 5432,
    description: "PostgreSQL port. Default 5432.",
    example: "5432",
  },
  dbTunnelPort: {
    type: "integer",
    default: 15432,
    description: "Local port of the SSH tunnel to the mail host's PostgreSQL in managed mode. Default 15432.",
    example: "15432",
  },
  dbAdminUser: {
    type: "string",
    default: "postgres",
    description: "Superuser the managed mode connects as. Default postgres.",
    example: "postgres",
  },
  dbAdminPassword: {
    type: "string",
    secret: true,
    default: "",
    description: "Password of dbAdminUser; required in managed mode. Secret.",
    example: "--secret mailstack:dbAdminPassword",
  },
  dbOwnerPassword: {
    type: "string",
    secret: true,
    default: "",
    description: "Password of the techmail role in managed mode; empty means a generated one. Secret.",
    example: "--secret mailstack:dbOwnerPassword",
  },
  users: {
    type: "array",
    items: "object",
    default: [],
    description:
      'Mailboxes, each {"address": "a@tlabs.team", "quota": "2G", "enabled": true, "sendAs": ["sales@tlabs.team"]}.',
    example: "--path 'users[0].address' alice@tlabs.team",
  },
  passwordHashes: {
    type: "object",
    secret: true,
    default: {},
    description:
      "Password hash of each user, address -> {ARGON2ID}... or {BLF-CRYPT}... (doveadm pw). Secret.",
    example: `--secret --path 'passwordHashes["alice@tlabs.team"]' "$(doveadm pw -s ARGON2ID)"`,
  },
  aliases: {
    type: "array",
    items: "object",
    default: [],
    description:
      'Aliases, each {"source": "sales@tlabs.team", "destination": "alice@tlabs.team"}; "@tlabs.team" is a catch-all.',
    example: "--path 'aliases[0].source' sales@tlabs.team",
  },
  removedAccounts: {
    type: "string",
    default: "disable",
    description:
      "What happens to a user or alias removed from config: disable (default) or delete its row. Mail is never deleted.",
    example: "disable",
  },
  ldapUri: {
    type: "string",
    default: "",
    description:
      "The company LDAP server(s) for domains with authType ldap: ldap:// or ldaps:// URIs, space-separated. Required when a domain uses LDAP.",
    example: "ldaps://ldap.tlabs.team",
  },
  ldapBindDn: {
    type: "string",
    default: "",
    description:
      "DN of the read-only account Dovecot searches LDAP with to find a user's entry by mail. Required when a domain uses LDAP.",
    example: "cn=mailserver,dc=tlabs,dc=team",
  },
  ldapBindPassword: {
    type: "string",
    default: "",
    secret: true,
    description: "Password of ldapBindDn. Secret. Set this or ldapBindPasswordPath.",
    example: "--secret mailstack:ldapBindPassword",
  },
  ldapBindPasswordPath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of a file holding ldapBindDn's password. Set this or ldapBindPassword.",
    example: "~/.config/mailstack/ldap-bind-pw",
  },
  ldapFallback: {
    type: "string",
    default: "local-if-exists",
    description:
      "When LDAP cannot answer: local-if-exists (default) accepts the user's local hash if one is set, else fails temporarily; never always fails temporarily. A wrong LDAP password never falls back.",
    example: "never",
  },
  dkim: {
    type: "object",
    default: {},
    description:
      'DKIM keys of each active domain, such as {"tlabs.team": {"selectors": [{"name": "s2026a", "source": "generate", "algorithm": "rsa2048"}], "sign": "s2026a"}}. source: generate (default) or import (the key is in dkimPrivateKeys); algorithm, for generate only: rsa2048 (default), rsa4096 or ed25519. Every listed selector is published in DNS; only sign signs. Rotate in 4 steps: (1) add a new selector (published, not used), (2) switch sign to it, (3) keep the old one listed while it retires (still published), (4) remove it. An active domain not listed gets one generated rsa2048 selector, mail, that signs.',
    example: "--path 'dkim[\"tlabs.team\"].selectors[0].name' s2026a",
  },
  dkimPrivateKeys: {
    type: "object",
    secret: true,
    default: {},
    description:
      'PEM private keys of the DKIM selectors with source import, "domain/selector" -> key (RSA of 2048 bits or more, or Ed25519). Secret.',
    example: "--secret --path 'dkimPrivateKeys[\"tlabs.team/s2026a\"]' < s2026a.pem",
  },
  spamActions: {
    type: "object",
    default: {},
    description:
      'Rspamd score thresholds, each optional: {"reject": 15, "addHeader": 6, "greylist": 4} (the defaults). addHeader files a message into Junk; reject null never rejects on score (viruses and GTUBE still are).',
    example: "--path 'spamActions.reject' 20",
  },
  greylisting: {
    type: "boolean",
    default: true,
    description:
      "Defer a message scoring at least spamActions.greylist once, until its sender retries. Default true.",
    example: "false",
  },
  spamNetworkChecks: {
    type: "boolean",
    default: true,
    description:
      "Rspamd's checks that ask outside servers: DNS blocklists, fuzzy hashes, ASN, URL redirectors. Default true; the offline sandbox turns them off.",
    example: "false",
  },
  spamTestPatterns: {
    type: "boolean",
    default: false,
    description:
      "Also act on Rspamd's GTUBE variants for add header (YJS*...), so that filing into Junk can be tested end to end. They let a sender pick the outcome: never in production. Default false.",
    example: "true",
  },
  clamavUpdates: {
    type: "boolean",
    default: true,
    description:
      "freshclam keeps ClamAV's signatures current (the first up waits for the download). Default true; false loads only the project's EICAR test signature (the offline sandbox).",
    example: "false",
  },
  dnsProvider: {
    type: "string",
    default: "zonefile",
    description:
      "Where the mail records go: zonefile (default; the stack output dnsZones holds a BIND fragment per domain) or cloudflare (also published there; set cloudflareApiToken and cloudflareZoneIds).",
    example: "cloudflare",
  },
  cloudflareApiToken: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Cloudflare API token with DNS edit rights on the mail domains' zones. Secret. For dnsProvider cloudflare.",
    example: "--secret mailstack:cloudflareApiToken",
  },
  cloudflareZoneIds: {
    type: "object",
    default: {},
    description:
      'Cloudflare zone id of each mail domain, such as {"tlabs.team": "023e105f4ecef8ad9ca31a8372d0c353"}. For dnsProvider cloudflare.',
    example: "--path 'cloudflareZoneIds[\"tlabs.team\"]' 023e105f4ecef8ad9ca31a8372d0c353",
  },
  mailIpv4: {
    type: "string",
    default: "",
    description:
      "Public IPv4 address of the mail host, for its A record and the expected PTR. Default: host, when that is an IPv4 address.",
    example: "203.0.113.25",
  },
  mailIpv6: {
    type: "string",
    default: "",
    description: "Public IPv6 address of the mail host, for its AAAA record. Default none.",
    example: "2001:db8::25",
  },
  spf: {
    type: "object",
    default: {},
    description:
      'SPF of every domain, each optional: {"includes": [], "all": "-all"} (the defaults): the MX may send, plus each include; at most 10 DNS lookups in all.',
    example: "--path 'spf.includes[0]' _spf.google.com",
  },
  dmarc: {
    type: "object",
    default: {},
    description:
      'DMARC of every domain, each optional: {"policy": "quarantine", "subdomainPolicy": unset, "rua": ["mailto:<adminEmail>"], "ruf": [], "pct": 100, "adkim": "r", "aspf": "r"} (the defaults); report addresses are mailto: URIs.',
    example: "--path 'dmarc.policy' reject",
  },
  mtaSts: {
    type: "object",
    default: {},
    description:
      'MTA-STS policy, each optional: {"mode": "testing", "maxAge": 604800} (the defaults); mode enforce, testing or none.',
    example: "--path 'mtaSts.mode' enforce",
  },
  caaIssuer: {
    type: "string",
    default: "letsencrypt.org",
    description:
      "The CA that may issue the mail host's certificate (its CAA record). Default letsencrypt.org.",
    example: "letsencrypt.org",
  },
  acmeServer: {
    type: "string",
    default: "letsencrypt",
    description:
      "Where the mail host's certificate comes from: letsencrypt (default), letsencrypt-staging, the https:// URL of another ACME directory, or none (keep the self-signed bootstrap certificate).",
    example: "letsencrypt-staging",
  },
  acmeChallenge: {
    type: "string",
    default: "http-01",
    description:
      "How the ACME server checks the names: http-01 (default; port 80 through nginx) or dns-01 (TXT records through Cloudflare; set cloudflareApiToken).",
    example: "dns-01",
  },
  acmeCaBundlePath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of the PEM certificate of a private ACME server's HTTPS CA, which the host then trusts. Default none (public CAs).",
    example: "~/ca/acme-root.pem",
  },
  tlsa: {
    type: "boolean",
    default: false,
    description:
      "Publish a DANE TLSA record (3 1 1) for port 25 of the mail host; renewals then keep the certificate's key. Default false.",
    example: "true",
  },
  mailStorage: {
    type: "string",
    default: "maildir",
    description:
      "maildir (the default: Maildir on the host, backed up with restic) or obox: mail as objects in the storage bucket through Dovecot Pro's obox plugin. obox needs a Dovecot Pro licence and its packages on the host; Debian's and Ubuntu's Dovecot do not include obox.",
    example: "obox",
  },
  obox: {
    type: "object",
    default: {},
    description:
      'For mailStorage obox, each optional: {"cacheSize": "1G", "cachePath": "/var/cache/mails", "addressing": "path", "allowHttp": false} (the defaults). addressing is path (MinIO) or virtual-hosted (AWS); allowHttp allows an http:// endpoint, which sends mail and the key in clear.',
    example: "--path 'obox.cacheSize' 4G",
  },
  backup: {
    type: "object",
    default: {},
    description:
      'Backups with restic into the storage bucket, each optional: {"schedule": "03:15", "keepLast": 3, "keepDaily": 7, "keepWeekly": 4, "keepMonthly": 6, "maxAgeHours": 26, "database": true} (the defaults). schedule is a daily time on the host, or "off"; maxAgeHours is when monitoring calls the last success too old; database false skips the dump (a database on another server).',
    example: "--path 'backup.schedule' 02:30",
  },
  health: {
    type: "object",
    default: {},
    description:
      'mailstack-health on the host, each optional: {"everyMinutes": 15, "maxQueue": 50, "maxQueueAgeMinutes": 60, "maxLogWarnings": 20, "certMinDays": 14, "checkDns": true, "dnsServer": ""} (the defaults). everyMinutes 0 runs no scheduled check; dnsServer is the server the published records are checked against (address[:port]; empty: the host\'s resolvers).',
    example: "--path 'health.maxQueue' 100",
  },
  backupPassword: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Password of the encrypted restic repository. Secret; keep a copy outside this stack: without it no backup can be read.",
    example: "--secret mailstack:backupPassword",
  },
  fail2ban: {
    type: "object",
    default: {},
    description:
      'Fail2ban, each optional: {"maxRetry": 5, "findTime": "10m", "banTime": "1h", "allowlist": []} (the defaults). maxRetry failures within findTime ban an address in the firewall for banTime; allowlist addresses or networks (operators, monitoring, the machine that deploys) are never banned.',
    example: "--path 'fail2ban.allowlist[0]' 198.51.100.7",
  },
  storageMode: {
    type: "string",
    default: "minio",
    description:
      "Where backups go: minio (default; the stack makes the bucket, its policy, a user and an access key on a MinIO server with @pulumi/minio), external (an existing S3 bucket and key: set s3Endpoint, s3Bucket, s3AccessKeyId and s3SecretAccessKey) or none (no backup storage). Settings of the other modes are refused.",
    example: "external",
  },
  minioEndpoint: {
    type: "string",
    default: "",
    description:
      "URL of the MinIO server's S3 API, such as https://minio.tlabs.team:9000; both the machine running Pulumi and the mail host must reach it. Required with storageMode minio.",
    example: "https://minio.tlabs.team:9000",
  },
  minioBucket: {
    type: "string",
    default: "",
    description:
      "Name of the backup bucket the stack makes on the MinIO server. Default mail-<first domain with dots as dashes>, such as mail-tlabs-team.",
    example: "mail-tlabs-team",
  },
  minioRootUser: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Access key of a MinIO admin, used only by the stack to manage the bucket, policy, user and access key. Secret. Required with storageMode minio.",
    example: "--secret mailstack:minioRootUser",
  },
  minioRootPassword: {
    type: "string",
    default: "",
    secret: true,
    description: "Secret key of minioRootUser. Secret. Required with storageMode minio.",
    example: "--secret mailstack:minioRootPassword",
  },
  backupVersionRetentionDays: {
    type: "integer",
    default: 30,
    description:
      "Days an overwritten or deleted backup object stays recoverable in the versioned MinIO bucket before its lifecycle rule removes it (1 to 3650). Default 30. For storageMode minio.",
    example: "30",
  },
  s3Endpoint: {
    type: "string",
    default: "",
    description:
      "URL of the S3 API of an existing bucket, such as https://s3.eu-central-1.amazonaws.com; the mail host must reach it. Required with storageMode external.",
    example: "https://s3.eu-central-1.amazonaws.com",
  },
  s3Bucket: {
    type: "string",
    default: "",
    description:
      "Name of the existing bucket backups go to; the stack does not make or change it. Required with storageMode external.",
    example: "mail-tlabs-team",
  },
  s3Region: {
    type: "string",
    default: "us-east-1",
    description:
      "Region the backup bucket's requests are signed for (for MinIO, its site region). Default us-east-1. For storageMode minio or external.",
    example: "eu-central-1",
  },
  s3AccessKeyId: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Access key id of the key backups use on the existing bucket; give it only the rights on that bucket that backups need (README). Secret. Required with storageMode external.",
    example: "--secret mailstack:s3AccessKeyId",
  },
  s3SecretAccessKey: {
    type: "string",
    default: "",
    secret: true,
    description: "Secret access key of s3AccessKeyId. Secret. Required with storageMode external.",
    example: "--secret mailstack:s3SecretAccessKey",
  },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Ports the mission opens on every mail host, besides SSH. */
export const MAIL_PORTS = [
  { port: 25, service: "smtp" },
  { port: 80, service: "http (ACME challenges)" },
  { port: 443, service: "https" },
  { port: 465, service: "smtps" },
  { port: 587, service: "submission" },
  { port: 993, service: "imaps" },
  { port: 995, service: "pop3s" },
] as const;

export interface DomainConfig {
  /** Lower-case domain name, e.g. tlabs.team. */
  readonly name: string;
  /** Where its users authenticate. Default local. */
  readonly authType: "local" | "ldap";
  /** Base DN of its users in LDAP; required for ldap domains. */
  readonly ldapBaseDn?: string;
  /** Inactive domains stay in the database but receive no mail. Default true. */
  readonly active: boolean;
}

/** How a generated DKIM key is made. */
export type DkimAlgorithm = "rsa2048" | "rsa4096" | "ed25519";

/** One DKIM selector: a key the stack generates, or one imported from mailstack:dkimPrivateKeys. */
export type DkimSelectorConfig =
  | { readonly name: string; readonly source: "generate"; readonly algorithm: DkimAlgorithm }
  | { readonly name: string; readonly source: "import" };

export interface DkimDomainConfig {
  /** An active domain of mailstack:domains. */
  readonly domain: string;
  /** Every selector published in DNS, in the order given; at least one. */
  readonly selectors: readonly DkimSelectorConfig[];
  /** The one selector that signs; one of `selectors`. */
  readonly sign: string;
}

export interface UserConfig {
  /** Lower-case address. */
  readonly address: string;
  /** Bytes; 0 is unlimited. */
  readonly quotaBytes: number;
  readonly enabled: boolean;
  /** Extra addresses (or @domain) this login may send as. */
  readonly sendAs: readonly string[];
}

export interface AliasConfig {
  /** Address, or @domain for a catch-all. */
  readonly source: string;
  readonly destination: string;
}

export type DbMode = "managed" | "preprovisioned";
export type HostOs = "debian12" | "ubuntu2204";

export interface DatabaseConfig {
  readonly mode: DbMode;
  /** External server in managed mode; undefined means the mail host's own. */
  readonly host?: string;
  readonly port: number;
  readonly tunnelPort: number;
  readonly adminUser: string;
  /** Secret; set in managed mode. */
  readonly adminPassword?: pulumi.Output<string>;
  /** Secret; undefined means generate one. */
  readonly ownerPassword?: pulumi.Output<string>;
}

export interface AccountsConfig {
  readonly users: readonly UserConfig[];
  /** address -> hash, a secret. */
  readonly passwordHashes: pulumi.Output<Readonly<Record<string, string>>>;
  readonly aliases: readonly AliasConfig[];
  readonly removed: "disable" | "delete";
}

/** What an LDAP domain's login does when LDAP cannot answer (a wrong password never falls back). */
export type LdapFallback = "local-if-exists" | "never";

export interface LdapConfig {
  /** One or more ldap:// or ldaps:// URIs. */
  readonly uris: readonly string[];
  /** The search account. */
  readonly bindDn: string;
  /** Its password: the secret itself, or where to read it on the deploying machine. */
  readonly bindPassword: { readonly secret: pulumi.Output<string> } | { readonly path: string };
  readonly fallback: LdapFallback;
}

export interface SshConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Either the key itself (a secret) or where to read it on the deploying machine. */
  readonly privateKey: { readonly secret: pulumi.Output<string> } | { readonly path: string };
}

export interface StackConfig {
  readonly ssh: SshConfig;
  readonly hostname: string;
  readonly timezone: string;
  readonly adminEmail: string;
  readonly domains: readonly DomainConfig[];
  /** Extra sshd settings, keyword -> value, in the order given. */
  readonly sshdOptions: Readonly<Record<string, string>>;
  readonly unattendedUpgrades: boolean;
  readonly os: HostOs;
  readonly database: DatabaseConfig;
  readonly accounts: AccountsConfig;
  /** Set exactly when some domain has authType ldap. */
  readonly ldap?: LdapConfig;
  /** DKIM selectors of every active domain, in the order of `domains`. */
  readonly dkim: readonly DkimDomainConfig[];
  /**
   * "domain/selector" -> PEM of each imported selector, a secret. The keys are
   * checked (dkimPrivateKeyProblems) with the rest of the config.
   */
  readonly dkimPrivateKeys: pulumi.Output<Readonly<Record<string, string>>>;
  readonly filter: FilterConfig;
  readonly fail2ban: Fail2banSettings;
  readonly dns: DnsConfig;
  readonly tls: TlsConfig;
  /** Where backups go (mailstack:storageMode); the credentials are secret Outputs. */
  readonly storage: StorageConfig;
  readonly backup: BackupConfig;
  /** mailstack-health's thresholds and schedule. */
  readonly health: HealthSettings;
  /** Set in obox mode (mailstack:mailStorage obox): the cache and addressing; the bucket is storage's. */
  readonly obox?: OboxOptions;
}

/** Backups of the mail host. */
export interface BackupConfig {
  readonly settings: BackupSettings;
  /** The restic repository's password; unset leaves backups off. */
  readonly password?: pulumi.Output<string>;
}

/** The backup storage: a MinIO bucket the stack manages, an existing S3 bucket, or none. */
export type StorageConfig = MailStorageArgs | { readonly mode: "none" };

/** The mail host's certificate. */
export interface TlsConfig {
  /** The ACME directory URL; unset: keep the self-signed bootstrap certificate. */
  readonly acmeServer?: string;
  readonly challenge: AcmeChallenge;
  /** A private ACME server's HTTPS CA, on the deploying machine (read by readAcmeCaBundle). */
  readonly caBundlePath?: string;
  /** For DNS-01. */
  readonly cloudflareApiToken?: pulumi.Output<string>;
  readonly tlsa: boolean;
}

/** The mail domains' DNS records and where they go. */
export interface DnsConfig {
  readonly provider: "zonefile" | "cloudflare";
  /** Set exactly with provider cloudflare. */
  readonly cloudflare?: {
    readonly apiToken: pulumi.Output<string>;
    readonly zoneIds: Readonly<Record<string, string>>;
  };
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly spf: SpfSettings;
  readonly dmarc: DmarcSettings;
  readonly mtaSts: MtaStsSettings;
  readonly caaIssuer: string;
}

/** Rspamd and ClamAV. */
export interface FilterConfig {
  readonly actions: SpamActions;
  readonly greylisting: boolean;
  readonly networkChecks: boolean;
  readonly testPatterns: boolean;
  readonly clamavUpdates: boolean;
}

/** sshd keywords the stack sets itself; sshdOptions may not override them. */
export const MANAGED_SSHD_KEYWORDS = [
  "Port",
  "PermitRootLogin",
  "PubkeyAuthentication",
  "PasswordAuthentication",
  "KbdInteractiveAuthentication",
  "ChallengeResponseAuthentication",
  "PermitEmptyPasswords",
  "AuthenticationMethods",
  "UsePAM",
  "AllowTcpForwarding",
  "PermitOpen",
  "GatewayPorts",
  "PermitTunnel",
] as const;

/** Raw config as Pulumi holds it: values keyed without the namespace. */
export interface RawConfig {
  readonly values: Readonly<Record<string, string>>;
  readonly secretKeys: ReadonlySet<string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Returns why `name` is not a fully qualified domain name, or undefined when it is one. */
export function domainProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.endsWith(".")) return "ends with a dot; write it without the trailing dot";
  if (name.length > 253) return "is longer than 253 characters";
  if (name !== name.toLowerCase()) return "has upper-case letters; write it in lower case";
  const labels = name.split(".");
  if (labels.length < 2) return "is not fully qualified (it needs at least one dot, as in example.com)";
  for (const label of labels) {
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}...")`;
    if (!LABEL.test(label)) {
      return `has an invalid label "${label}" (use letters, digits and inner hyphens only)`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return "ends in a numeric label, which no TLD is";
  return undefined;
}

/** Returns why `address` is not a usable mail address, or undefined when it is one. */
export function addressProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0) return "is not an address of the form local@domain";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64) return "has a local part longer than 64 characters";
  if (!LOCAL_PART.test(local)) return `has an invalid local part "${local}"`;
  const bad = domainProblem(domain);
  return bad === undefined ? undefined : `has a domain "${domain}" that ${bad}`;
}

function hostProblem(host: string): string | undefined {
  if (IPV4.test(host)) return undefined;
  if (host.includes(":")) {
    // Let the URL parser judge IPv6 literals rather than a hand-written pattern.
    try {
      new URL(`ssh://[${host}]/`);
      return undefined;
    } catch {
      return "is not a valid IPv6 address";
    }
  }
  if (/^[\d.]+$/.test(host)) return "is not a valid IPv4 address";
  const bad = domainProblem(host);
  return bad === undefined ? undefined : `is neither an IP address nor a host name: it ${bad}`;
}

/** Returns why `text` is not a private key, or undefined when it looks like one. */
export function keyProblem(text: string): string | undefined {
  return /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text.trim())
    ? undefined
    : "is not a PEM/OpenSSH private key (it must start with -----BEGIN ... PRIVATE KEY-----)";
}

/** Levenshtein distance, for "did you mean" hints on misspelt keys. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row.push(Math.min((row[j - 1] ?? 0) + 1, (prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function key(k: string): string {
  return `${NAMESPACE}:${k}`;
}

function fix(k: ConfigKey): string {
  const spec: KeySpec = CONFIG_KEYS[k];
  const example = spec.example.startsWith("--") ? spec.example : `${key(k)} ${spec.example}`;
  return `pulumi config set ${example}`;
}

/**
 * Validates raw config and returns the typed stack config. Throws a
 * `ConfigError` listing every problem, each naming its key and the fix.
 */
export function parseConfig(raw: RawConfig): StackConfig {
  const problems: string[] = [];
  const bad = (k: ConfigKey, why: string, fixText = fix(k)) =>
    problems.push(`${key(k)} ${why}. Fix: ${fixText}`);

  const known = Object.keys(CONFIG_KEYS);
  for (const k of Object.keys(raw.values)) {
    if (known.includes(k)) continue;
    const near = known.filter((c) => distance(c, k) <= 2);
    const hint = near.length > 0 ? `did you mean ${near.map(key).join(" or ")}? ` : "";
    problems.push(
      `${key(k)} is not a setting of this stack. Fix: ${hint}remove it with: pulumi config rm ${key(k)}`,
    );
  }

  // Secrets set without --secret: reported once, and otherwise treated as unset.
  const plainSecrets = new Set<ConfigKey>();
  // Pulumi fills in Pulumi.yaml's defaults; a default counts as "not set".
  const isSet = (k: ConfigKey): boolean => {
    const spec: KeySpec = CONFIG_KEYS[k];
    const v = raw.values[k];
    const isDefault =
      spec.default !== undefined &&
      v === (typeof spec.default === "string" ? spec.default : JSON.stringify(spec.default));
    return v !== undefined && v !== "" && !isDefault;
  };
  const get = (k: ConfigKey): string | undefined => {
    const spec: KeySpec = CONFIG_KEYS[k];
    const v = raw.values[k];
    if (v === undefined || !isSet(k)) {
      if (spec.required) bad(k, "is required but not set");
      return undefined;
    }
    if (spec.secret && !raw.secretKeys.has(k)) {
      plainSecrets.add(k);
      bad(k, "is stored in plain text but must be a secret", `pulumi config rm ${key(k)}, then ${fix(k)}`);
      return undefined;
    }
    return v;
  };

  const str = (k: ConfigKey, fallback: string, check?: (v: string) => string | undefined): string => {
    const v = get(k);
    if (v === undefined) return fallback;
    const why = check?.(v);
    if (why !== undefined) {
      // A secret's value never goes into a message: messages end up in logs.
      const shown = (CONFIG_KEYS[k] as KeySpec).secret ? "(secret, not shown)" : `"${v}"`;
      bad(k, `value ${shown} ${why}`);
      return fallback;
    }
    return v;
  };

  const bool = (k: ConfigKey, fallback: boolean): boolean => {
    const v = get(k);
    if (v === undefined) return fallback;
    if (v === "true" || v === "false") return v === "true";
    bad(k, `value "${v}" is not true or false`);
    return fallback;
  };

  /** A whole number from min to max; `what` names it in the message ("a TCP port"). */
  const int = (k: ConfigKey, fallback: number, min: number, max: number, what: string): number => {
    const v = get(k);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < min || n > max) {
      bad(k, `value "${v}" is not ${what} (a whole number from ${min} to ${max})`);
      return fallback;
    }
    return n;
  };
  const port = (k: ConfigKey, fallback: number): number => int(k, fallback, 1, 65535, "a TCP port");

  const host = str("host", "", hostProblem);
  const sshPort = port("sshPort", 22);
  const sshUser = str("sshUser", "root", (v) =>
    USER.test(v) ? undefined : "is not a valid login name (lower-case letters, digits, _ and -)",
  );
  const keyText = str("sshPrivateKey", "", keyProblem);
  const keyPath = str("sshPrivateKeyPath", "", (v) =>
    v.startsWith("/") || v.startsWith("~/") ? undefined : "is not an absolute path (or one starting with ~/)",
  );
  const given = (k: ConfigKey) => (raw.values[k] ?? "") !== "";
  if (!given("sshPrivateKey") && !given("sshPrivateKeyPath")) {
    bad("sshPrivateKey", "is required (or mailstack:sshPrivateKeyPath) but neither is set");
  } else if (given("sshPrivateKey") && given("sshPrivateKeyPath")) {
    bad(
      "sshPrivateKeyPath",
      "is set together with mailstack:sshPrivateKey; keep one",
      `pulumi config rm ${key("sshPrivateKeyPath")}`,
    );
  }
  const hostname = str("hostname", "", domainProblem);
  const zones = new Set(Intl.supportedValuesOf("timeZone"));
  const timezone = str("timezone", "UTC", (v) =>
    v === "UTC" || v === "Etc/UTC" || zones.has(v)
      ? undefined
      : "is not an IANA time zone such as Asia/Seoul",
  );
  const adminEmail = str("adminEmail", "", addressProblem);
  const unattendedUpgrades = bool("unattendedUpgrades", true);
  const spamActions = parseSpamActions(get("spamActions"), (why) => bad("spamActions", why));
  const greylisting = bool("greylisting", true);
  const spamNetworkChecks = bool("spamNetworkChecks", true);
  const spamTestPatterns = bool("spamTestPatterns", false);
  const clamavUpdates = bool("clamavUpdates", true);
  const fail2ban = parseFail2ban(get("fail2ban"), (why) => bad("fail2ban", why));
  const domains = parseDomains(get("domains"), (why) => bad("domains", why));
  const sshdOptions = parseSshdOptions(get("sshdOptions"), (why) => bad("sshdOptions", why));
  const os = str("os", "debian12", (v) =>
    v === "debian12" || v === "ubuntu2204" ? undefined : "is not debian12 or ubuntu2204",
  );
  const dbMode = str("dbMode", "managed", (v) =>
    v === "managed" || v === "preprovisioned" ? undefined : "is not managed or preprovisioned",
  );
  const dbHost = str("dbHost", "", hostProblem);
  const dbPort = port("dbPort", 5432);
  const dbTunnelPort = port("dbTunnelPort", 15432);
  const dbAdminUser = str("dbAdminUser", "postgres", (v) =>
    /^[a-z_][a-z0-9_]*$/.test(v) ? undefined : "is not a plain PostgreSQL role name",
  );
  const dbAdminPassword = str("dbAdminPassword", "");
  const dbOwnerPassword = str("dbOwnerPassword", "");
  if (dbMode === "managed" && dbAdminPassword === "") {
    bad("dbAdminPassword", "is required in managed mode (or set mailstack:dbMode preprovisioned)");
  }
  const accounts = parseAccounts(get, domains, bad);
  const ldap = parseLdap(get, given, domains, bad);
  const dkim = parseDkim(get, domains, bad, plainSecrets.has("dkimPrivateKeys"));
  // The keys' text is in the raw config already: checked with everything
  // else, so a bad key stops the preview before anything is registered.
  problems.push(...dkimPrivateKeyProblems(dkim.pems));

  const dnsProvider = str("dnsProvider", "zonefile", (v) =>
    v === "zonefile" || v === "cloudflare" ? undefined : "is not zonefile or cloudflare",
  );
  const cfToken = str("cloudflareApiToken", "");
  const cfZones = parseStringMap(get("cloudflareZoneIds"), (why) => bad("cloudflareZoneIds", why));
  if (dnsProvider === "cloudflare") {
    if (cfToken === "") bad("cloudflareApiToken", "is required with dnsProvider cloudflare but not set");
    for (const d of domains.filter((x) => x.active)) {
      if (cfZones[d.name] === undefined) {
        bad(
          "cloudflareZoneIds",
          `has no zone id for ${d.name}`,
          `pulumi config set --path 'cloudflareZoneIds["${d.name}"]' <zone id>`,
        );
      }
    }
  }
  const mailIpv4 = str("mailIpv4", IPV4.test(host) ? host : "", (v) =>
    IPV4.test(v) ? undefined : "is not an IPv4 address",
  );
  const mailIpv6 = str("mailIpv6", "", (v) =>
    /^[0-9a-f:]+:[0-9a-f:]*$/i.test(v) ? undefined : "is not an IPv6 address",
  );
  const spf = parseSettings(get("spf"), DEFAULT_SPF, spfProblems, (why) => bad("spf", why));
  const dmarc = parseSettings(
    get("dmarc"),
    { ...DEFAULT_DMARC, rua: adminEmail !== "" ? [`mailto:${adminEmail}`] : [] },
    dmarcProblems,
    (why) => bad("dmarc", why),
    ["subdomainPolicy"],
  );
  const mtaSts = parseSettings(get("mtaSts"), DEFAULT_MTA_STS, mtaStsProblems, (why) => bad("mtaSts", why));
  const caaIssuer = str("caaIssuer", "letsencrypt.org", domainProblem);
  const acmeServer = str("acmeServer", "letsencrypt", acmeServerProblem);
  const acmeChallenge = str("acmeChallenge", "http-01", (v) =>
    v === "http-01" || v === "dns-01" ? undefined : "is not http-01 or dns-01",
  );
  if (acmeChallenge === "dns-01" && cfToken === "") {
    bad("cloudflareApiToken", "is required with acmeChallenge dns-01 but not set");
  }
  const acmeCaBundlePath = str("acmeCaBundlePath", "", (v) =>
    v.startsWith("/") || v.startsWith("~/") ? undefined : "is not an absolute path (or one starting with ~/)",
  );
  const tlsa = bool("tlsa", false);
  const storage = parseStorage({ get, isSet, given, str, int, bad }, domains);
  const backup = parseSettings(
    get("backup"),
    DEFAULT_BACKUP,
    backupProblems,
    (why) => bad("backup", why),
    [],
    '{"schedule": "03:15", "keepDaily": 7}',
  );
  const health = parseSettings(
    get("health"),
    DEFAULT_HEALTH,
    healthProblems,
    (why) => bad("health", why),
    [],
    '{"maxQueue": 100, "dnsServer": "1.1.1.1"}',
  );
  const backupPassword = str("backupPassword", "", (v) =>
    v.length >= 16 ? undefined : "is shorter than 16 characters; the backups are only as safe as it",
  );
  if (storage.mode !== "none" && backupPassword === "" && !given("backupPassword")) {
    bad(
      "backupPassword",
      `is required: backups into the ${storage.mode === "minio" ? "MinIO" : "S3"} bucket are encrypted with it`,
      `${fix("backupPassword")} (a long random one, kept outside this stack too), or pulumi config set mailstack:storageMode none for no backups`,
    );
  }
  const mailStorage = str("mailStorage", "maildir", (v) =>
    v === "maildir" || v === "obox" ? undefined : "is not maildir or obox",
  );
  const obox = parseObox(get("obox"), (why) => bad("obox", why));
  if (mailStorage === "obox" && storage.mode === "none") {
    bad(
      "mailStorage",
      "is obox, which keeps mail in the storage bucket, but mailstack:storageMode is none",
      "pulumi config set mailstack:storageMode minio (or external), with its bucket settings",
    );
  } else if (mailStorage === "obox" && storage.mode !== "none") {
    const region = storage.region ?? DEFAULT_S3_REGION;
    for (const p of oboxProblems({ ...obox, endpoint: storage.endpoint, bucket: storage.bucket, region })) {
      bad("obox", `cannot be used: ${p}`);
    }
  }
  if (backup.database && dbHost !== "") {
    bad(
      "backup",
      `dumps the database on the mail host, but it runs on ${dbHost} (mailstack:dbHost)`,
      "back it up at the database server and pulumi config set --path 'backup.database' false",
    );
  }

  if (MAIL_PORTS.some((p) => p.port === sshPort)) {
    bad(
      "sshPort",
      `value ${sshPort} collides with a mail port (${MAIL_PORTS.map((p) => p.port).join(", ")})`,
    );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ssh: {
      host,
      port: sshPort,
      user: sshUser,
      privateKey: keyPath !== "" ? { path: keyPath } : { secret: pulumi.secret(keyText) },
    },
    hostname,
    timezone,
    adminEmail,
    domains,
    sshdOptions,
    unattendedUpgrades,
    os: os as HostOs,
    database: {
      mode: dbMode as DbMode,
      ...(dbHost !== "" ? { host: dbHost } : {}),
      port: dbPort,
      tunnelPort: dbTunnelPort,
      adminUser: dbAdminUser,
      ...(dbAdminPassword !== "" ? { adminPassword: pulumi.secret(dbAdminPassword) } : {}),
      ...(dbOwnerPassword !== "" ? { ownerPassword: pulumi.secret(dbOwnerPassword) } : {}),
    },
    accounts: {
      users: accounts.users,
      aliases: accounts.aliases,
      removed: accounts.removed,
      passwordHashes: pulumi.secret(accounts.hashes),
    },
    ...(ldap ? { ldap } : {}),
    dkim: dkim.dkim,
    dkimPrivateKeys: pulumi.secret(dkim.pems),
    filter: {
      actions: spamActions,
      greylisting,
      networkChecks: spamNetworkChecks,
      testPatterns: spamTestPatterns,
      clamavUpdates,
    },
    fail2ban,
    dns: {
      provider: dnsProvider as DnsConfig["provider"],
      ...(dnsProvider === "cloudflare"
        ? { cloudflare: { apiToken: pulumi.secret(cfToken), zoneIds: cfZones } }
        : {}),
      ...(mailIpv4 !== "" ? { ipv4: mailIpv4 } : {}),
      ...(mailIpv6 !== "" ? { ipv6: mailIpv6 } : {}),
      spf,
      dmarc,
      mtaSts,
      caaIssuer,
    },
    tls: {
      ...(acmeServer !== "none" ? { acmeServer: ACME_SERVERS[acmeServer] ?? acmeServer } : {}),
      challenge: acmeChallenge as AcmeChallenge,
      ...(acmeCaBundlePath !== "" ? { caBundlePath: acmeCaBundlePath } : {}),
      ...(acmeChallenge === "dns-01" ? { cloudflareApiToken: pulumi.secret(cfToken) } : {}),
      tlsa,
    },
    storage,
    ...(mailStorage === "obox" ? { obox } : {}),
    backup: {
      settings: backup,
      ...(backupPassword !== "" ? { password: pulumi.secret(backupPassword) } : {}),
    },
    health,
  };
}

type StorageMode = StorageConfig["mode"];

/** The storage modes, and the settings each one reads (s3Region serves both with a bucket). */
const STORAGE_KEYS: Readonly<Record<StorageMode, readonly ConfigKey[]>> = {
  minio: [
    "minioEndpoint",
    "minioBucket",
    "minioRootUser",
    "minioRootPassword",
    "backupVersionRetentionDays",
    "s3Region",
  ],
  external: ["s3Endpoint", "s3Bucket", "s3Region", "s3AccessKeyId", "s3SecretAccessKey"],
  none: [],
};
const STORAGE_MODES = Object.keys(STORAGE_KEYS) as StorageMode[];

/** Why a credential cannot be one (MinIO's minimums: 3 for an access key, 8 for a secret), or undefined. */
function credentialProblem(min: number): (v: string) => string | undefined {
  return (v) =>
    v.length < min
      ? `is shorter than ${min} characters`
      : /[\s\p{Cc}]/u.test(v)
        ? "has whitespace or control characters"
        : undefined;
}

/** What parseConfig's helpers give the parts of config parsed elsewhere. */
interface ConfigReader {
  get(k: ConfigKey): string | undefined;
  /** Set, and not to Pulumi.yaml's default. */
  isSet(k: ConfigKey): boolean;
  /** Present with any value, even a secret stored in plain text. */
  given(k: ConfigKey): boolean;
  str(k: ConfigKey, fallback: string, check?: (v: string) => string | undefined): string;
  int(k: ConfigKey, fallback: number, min: number, max: number, what: string): number;
  bad(k: ConfigKey, why: string, fixText?: string): void;
}

/**
 * mailstack:storageMode and the settings of that mode. A setting of another
 * mode is refused: a stale admin key or an unused bucket name in config
 * would mislead whoever reads it.
 */
function parseStorage(c: ConfigReader, domains: readonly DomainConfig[]): StorageConfig {
  const chosen = c.get("storageMode") ?? "minio";
  const mode = STORAGE_MODES.find((m) => m === chosen);
  if (mode === undefined) {
    c.bad("storageMode", `value "${chosen}" is not minio, external or none`);
    return { mode: "none" };
  }
  const used = STORAGE_KEYS[mode];
  const stray = new Set(STORAGE_MODES.flatMap((m) => STORAGE_KEYS[m]).filter((k) => !used.includes(k)));
  for (const k of stray) {
    if (!c.isSet(k)) continue;
    const owners = STORAGE_MODES.filter((m) => STORAGE_KEYS[m].includes(k));
    c.bad(
      k,
      `is a setting of storageMode ${owners.join(" or ")}, but storageMode is ${mode}`,
      `pulumi config rm ${key(k)}`,
    );
  }

  const required = (k: ConfigKey, value: string) => {
    // A secret stored in plain text is reported once, as that.
    if (value === "" && !c.given(k)) {
      c.bad(
        k,
        `is required with storageMode ${mode}${mode === "minio" ? " (the default)" : ""} but not set`,
        `${fix(k)}, or choose another mode: ${fix("storageMode")}`,
      );
    }
    return value;
  };
  const region = c.str("s3Region", DEFAULT_S3_REGION, regionProblem);
  const endpointOf = (k: ConfigKey) => {
    const v = c.get(k);
    const why = v === undefined ? undefined : endpointProblem(v);
    if (v === undefined || why === undefined) return required(k, v === undefined ? "" : normalizeEndpoint(v));
    // An endpoint never needs an @: one means credentials, which never go into a message.
    c.bad(k, `value ${v.includes("@") ? "(not shown)" : `"${v}"`} ${why}`);
    return "";
  };

  if (mode === "external") {
    return {
      mode,
      endpoint: endpointOf("s3Endpoint"),
      bucket: required("s3Bucket", c.str("s3Bucket", "", bucketNameProblem)),
      region,
      accessKeyId: pulumi.secret(required("s3AccessKeyId", c.str("s3AccessKeyId", "", credentialProblem(3)))),
      secretAccessKey: pulumi.secret(
        required("s3SecretAccessKey", c.str("s3SecretAccessKey", "", credentialProblem(8))),
      ),
    };
  }
  if (mode === "none") return { mode };

  const first = domains[0]?.name;
  let bucket = c.str("minioBucket", "", bucketNameProblem);
  if (bucket === "" && !c.isSet("minioBucket") && first !== undefined) {
    bucket = defaultBucketName(first);
    const why = bucketNameProblem(bucket);
    if (why !== undefined) {
      c.bad("minioBucket", `is not set, and the default "${bucket}" (from ${first}) ${why}`);
    }
  }
  return {
    mode: "minio",
    endpoint: endpointOf("minioEndpoint"),
    bucket,
    region,
    rootUser: pulumi.secret(required("minioRootUser", c.str("minioRootUser", "", credentialProblem(3)))),
    rootPassword: pulumi.secret(
      required("minioRootPassword", c.str("minioRootPassword", "", credentialProblem(8))),
    ),
    versionRetentionDays: c.int(
      "backupVersionRetentionDays",
      DEFAULT_VERSION_RETENTION_DAYS,
      1,
      MAX_VERSION_RETENTION_DAYS,
      "a number of days",
    ),
  };
}

/** mailstack:obox: the cache and addressing over the defaults. */
function parseObox(value: string | undefined, bad: (why: string) => void): OboxOptions {
  if (value === undefined) return DEFAULT_OBOX;
  return (
    parseOverrides(
      value,
      DEFAULT_OBOX,
      '{"cacheSize": "1G", "addressing": "path"}',
      "the settings are cacheSize, cachePath, addressing, allowHttp",
      bad,
    ) ?? DEFAULT_OBOX
  );
}

/** The ACME servers known by name (mailstack:acmeServer). */
const ACME_SERVERS: Readonly<Record<string, string>> = {
  letsencrypt: LETSENCRYPT,
  "letsencrypt-staging": LETSENCRYPT_STAGING,
};

/** Why `v` is not a usable mailstack:acmeServer, or undefined. */
function acmeServerProblem(v: string): string | undefined {
  if (v === "none" || ACME_SERVERS[v] !== undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "is not letsencrypt, letsencrypt-staging, none or an https:// URL of an ACME directory";
  }
  return url.protocol === "https:" ? undefined : "must be an https:// URL (ACME runs over HTTPS only)";
}

/**
 * An object setting over its defaults (mailstack:spf, dmarc, mtaSts, backup), the
 * merged result checked by `problems`. `optional` names keys the defaults leave out;
 * `example` is shown when the value is no object (default: the defaults).
 */
function parseSettings<T extends object>(
  value: string | undefined,
  defaults: T,
  problems: (t: T) => string[],
  bad: (why: string) => void,
  optional: string[] = [],
  example = JSON.stringify(defaults),
): T {
  if (value === undefined) return defaults;
  const known = [...Object.keys(defaults), ...optional];
  const merged = parseOverrides(
    value,
    defaults,
    example,
    `the settings are ${known.join(", ")}`,
    bad,
    optional,
  );
  if (merged === undefined) return defaults;
  const found = problems(merged);
  for (const p of found) bad(`has ${p}`);
  return found.length > 0 ? defaults : merged;
}

/** A JSON object of string values (mailstack:cloudflareZoneIds). */
function parseStringMap(value: string | undefined, bad: (why: string) => void): Record<string, string> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (
    parsed === undefined ||
    Object.values(parsed).some((v) => typeof v !== "string" || !/^[0-9a-f]{32}$/.test(v))
  ) {
    bad("is not an object of domain -> 32-hex-digit zone id");
    return {};
  }
  return parsed as Record<string, string>;
}

/**
 * An object setting given as JSON over its defaults: every key optional,
 * unknown keys refused. Returns the merged object, or undefined after
 * reporting the problem. `example` shows the shape; `noun` names the keys;
 * `optional` names keys the defaults leave out.
 */
function parseOverrides<T extends object>(
  value: string,
  defaults: T,
  example: string,
  noun: string,
  bad: (why: string) => void,
  optional: string[] = [],
): T | undefined {
  const parsed = parseJsonObject(value);
  if (parsed === undefined) {
    bad(`is not an object such as ${example}`);
    return undefined;
  }
  const known = [...Object.keys(defaults), ...optional];
  const unknown = Object.keys(parsed).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    bad(`has ${unknown.map((k) => `"${k}"`).join(", ")}; ${noun}`);
    return undefined;
  }
  return { ...defaults, ...(parsed as Partial<T>) };
}

/** mailstack:fail2ban: thresholds and allowlist over the defaults. */
function parseFail2ban(value: string | undefined, bad: (why: string) => void): Fail2banSettings {
  if (value === undefined) return DEFAULT_FAIL2BAN;
  const settings = parseOverrides(
    value,
    DEFAULT_FAIL2BAN,
    '{"maxRetry": 5, "findTime": "10m", "banTime": "1h", "allowlist": []}',
    "the settings are maxRetry, findTime, banTime, allowlist",
    bad,
  );
  if (settings === undefined) return DEFAULT_FAIL2BAN;
  if (!Array.isArray(settings.allowlist)) {
    bad("allowlist is not a list of addresses");
    return DEFAULT_FAIL2BAN;
  }
  const problems = fail2banProblems(settings);
  for (const p of problems) bad(`has ${p}`);
  return problems.length > 0 ? DEFAULT_FAIL2BAN : settings;
}

/** mailstack:spamActions: the three thresholds, each a positive score (reject may be null). */
function parseSpamActions(value: string | undefined, bad: (why: string) => void): SpamActions {
  if (value === undefined) return DEFAULT_SPAM_ACTIONS;
  const actions = parseOverrides(
    value,
    DEFAULT_SPAM_ACTIONS,
    '{"reject": 15, "addHeader": 6, "greylist": 4}',
    "the thresholds are reject, addHeader and greylist",
    bad,
  );
  if (actions === undefined) return DEFAULT_SPAM_ACTIONS;
  try {
    validateSpamActions(actions);
  } catch (e) {
    bad(
      `is not usable: ${(e as Error).message.replace(/^spam actions: /, "").replace(/ \(mailstack:spamActions.*$/, "")}`,
    );
    return DEFAULT_SPAM_ACTIONS;
  }
  return actions;
}

const DN = /^\w+=[^,]+(,\w+=[^,]+)*$/;

/** Returns why `uris` is not a list of LDAP URIs, or undefined. */
export function ldapUriProblem(uris: string): string | undefined {
  for (const u of uris.split(/\s+/).filter((x) => x !== "")) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return `has "${u}", which is not a URI such as ldaps://ldap.tlabs.team`;
    }
    if (url.protocol !== "ldap:" && url.protocol !== "ldaps:") {
      return `has "${u}", which is not an ldap:// or ldaps:// URI`;
    }
    if (url.hostname === "" || (url.pathname !== "" && url.pathname !== "/") || url.search !== "") {
      return `has "${u}"; give only scheme, host and optional port, as in ldaps://ldap.tlabs.team:636`;
    }
  }
  return undefined;
}

/** The LDAP settings, checked only when some domain authenticates against LDAP. */
function parseLdap(
  get: (k: ConfigKey) => string | undefined,
  given: (k: ConfigKey) => boolean,
  domains: readonly DomainConfig[],
  bad: (k: ConfigKey, why: string, fixText?: string) => void,
): LdapConfig | undefined {
  const fallback = get("ldapFallback") ?? "local-if-exists";
  if (fallback !== "local-if-exists" && fallback !== "never") {
    bad("ldapFallback", `value "${fallback}" is not local-if-exists or never`);
  }
  const users = domains.filter((d) => d.authType === "ldap").map((d) => d.name);
  if (users.length === 0) return undefined;
  const why = `(${users.join(", ")} ${users.length === 1 ? "has" : "have"} authType ldap)`;

  const uri = get("ldapUri");
  const uriWhy = uri === undefined ? undefined : ldapUriProblem(uri);
  if (uri === undefined) bad("ldapUri", `is required but not set ${why}`);
  else if (uriWhy !== undefined) bad("ldapUri", `value "${uri}" ${uriWhy}`);

  const bindDn = get("ldapBindDn");
  if (bindDn === undefined) bad("ldapBindDn", `is required but not set ${why}`);
  else if (!DN.test(bindDn))
    bad("ldapBindDn", `value "${bindDn}" is not a DN such as cn=mailserver,dc=tlabs,dc=team`);

  const password = get("ldapBindPassword");
  if (password !== undefined && /[\r\n\0]/.test(password)) {
    bad("ldapBindPassword", "value (secret, not shown) has a line break or NUL, which Dovecot cannot read");
  }
  const pwPath = get("ldapBindPasswordPath");
  if (pwPath !== undefined && !(pwPath.startsWith("/") || pwPath.startsWith("~/"))) {
    bad("ldapBindPasswordPath", `value "${pwPath}" is not an absolute path (or one starting with ~/)`);
  }
  if (!given("ldapBindPassword") && !given("ldapBindPasswordPath")) {
    bad("ldapBindPassword", `is required (or mailstack:ldapBindPasswordPath) but neither is set ${why}`);
  } else if (given("ldapBindPassword") && given("ldapBindPasswordPath")) {
    bad(
      "ldapBindPasswordPath",
      "is set together with mailstack:ldapBindPassword; keep one",
      `pulumi config rm ${key("ldapBindPasswordPath")}`,
    );
  }
  if (uri === undefined || uriWhy !== undefined || bindDn === undefined) return undefined;
  return {
    uris: uri.split(/\s+/).filter((x) => x !== ""),
    bindDn,
    bindPassword: pwPath !== undefined ? { path: pwPath } : { secret: pulumi.secret(password ?? "") },
    fallback: fallback === "never" ? "never" : "local-if-exists",
  };
}

function parseSshdOptions(value: string | undefined, bad: (why: string) => void): Record<string, string> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (parsed === undefined) {
    bad("is not an object of sshd keyword -> value; set entries with --path");
    return {};
  }
  const managed: readonly string[] = MANAGED_SSHD_KEYWORDS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(k)) {
      bad(`has "${k}", which is not an sshd keyword`);
    } else if (managed.some((m) => m.toLowerCase() === k.toLowerCase())) {
      bad(`sets ${k}, which the stack manages for hardening; remove it`);
    } else if (
      !["string", "number", "boolean"].includes(typeof v) ||
      /[\n\r]/.test(String(v)) ||
      String(v) === ""
    ) {
      bad(`value of ${k} must be a non-empty single-line string`);
    } else {
      out[k] = String(v);
    }
  }
  return out;
}

type FieldType = "string" | "boolean" | "string[]" | "quota";

/** Parses a JSON list of objects with known fields; reports unknown or mistyped fields. */
function parseList(
  value: string | undefined,
  bad: (why: string) => void,
  fields: Readonly<Record<string, { readonly type: FieldType; readonly required?: boolean }>>,
): Record<string, unknown>[] {
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed)) {
    bad("is not a list; set entries with --path");
    return [];
  }
  return checkEntries(parsed, bad, fields);
}

/** Keeps the entries of a parsed list that are objects with known, well-typed fields; reports the rest. */
function checkEntries(
  parsed: readonly unknown[],
  bad: (why: string) => void,
  fields: Readonly<Record<string, { readonly type: FieldType; readonly required?: boolean }>>,
): Record<string, unknown>[] {
  const known = Object.keys(fields);
  const out: Record<string, unknown>[] = [];
  parsed.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      bad(`entry ${i} is not an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    let ok = true;
    for (const f of Object.keys(e)) {
      if (!known.includes(f)) {
        bad(`entry ${i} has unknown field "${f}" (known: ${known.join(", ")})`);
        ok = false;
      }
    }
    for (const [f, spec] of Object.entries(fields)) {
      const v = e[f];
      if (v === undefined) {
        if (spec.required) {
          bad(`entry ${i} has no "${f}"`);
          ok = false;
        }
        continue;
      }
      const fits =
        spec.type === "string[]"
          ? Array.isArray(v) && v.every((x) => typeof x === "string")
          : spec.type === "quota"
            ? typeof v === "string" || typeof v === "number"
            : typeof v === spec.type;
      if (!fits) {
        bad(
          `entry ${i} field "${f}" must be ${spec.type === "string[]" ? "a list of strings" : `a ${spec.type}`}`,
        );
        ok = false;
      }
    }
    if (ok) out.push(e);
  });
  return out;
}

/** "2G", "512M", "0" or a byte count -> bytes; undefined when malformed. */
export function parseQuota(q: string | number): number | undefined {
  const m = /^(\d+)\s*([KMGT]?)$/i.exec(String(q).trim());
  if (!m) return undefined;
  const unit = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m[2] ?? "").toUpperCase()] ?? 1;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseDomains(value: string | undefined, bad: (why: string) => void): DomainConfig[] {
  if (value === undefined) return [];
  const entries = parseList(value, bad, {
    name: { type: "string", required: true },
    authType: { type: "string" },
    ldapBaseDn: { type: "string" },
    active: { type: "boolean" },
  });
  if (entries.length === 0 && !value.includes("{")) {
    bad("must be a non-empty list of domains");
    return [];
  }
  const seen = new Set<string>();
  const domains: DomainConfig[] = [];
  for (const [i, e] of entries.entries()) {
    const name = e.name as string;
    const authType = (e.authType as string | undefined) ?? "local";
    const ldapBaseDn = e.ldapBaseDn as string | undefined;
    const why = domainProblem(name);
    if (why !== undefined) bad(`entry ${i} "${name}" ${why}`);
    else if (seen.has(name)) bad(`entry ${i} "${name}" is listed twice; remove the duplicate`);
    else if (authType !== "local" && authType !== "ldap") bad(`${name}: authType must be local or ldap`);
    else if (authType === "ldap" && !ldapBaseDn) {
      bad(`${name}: an ldap domain needs ldapBaseDn, such as ou=people,dc=tlabs,dc=team`);
    } else if (ldapBaseDn !== undefined && !/^\w+=[^,]+(,\w+=[^,]+)*$/.test(ldapBaseDn)) {
      bad(`${name}: ldapBaseDn "${ldapBaseDn}" is not a DN such as ou=people,dc=tlabs,dc=team`);
    } else {
      seen.add(name);
      domains.push({
        name,
        authType,
        ...(ldapBaseDn ? { ldapBaseDn } : {}),
        active: (e.active as boolean | undefined) ?? true,
      });
    }
  }
  return domains;
}

const HASH = /^\{(ARGON2ID|BLF-CRYPT)\}\S+$/;

/** Users, aliases and password hashes, checked against the domains and each other. */
function parseAccounts(
  get: (k: ConfigKey) => string | undefined,
  domains: readonly DomainConfig[],
  bad: (k: ConfigKey, why: string) => void,
): Omit<AccountsConfig, "passwordHashes"> & { readonly hashes: Record<string, string> } {
  const served = new Set(domains.map((d) => d.name));
  const domainOf = (a: string) => a.slice(a.lastIndexOf("@") + 1);
  // An address of ours: a valid address (or @domain where allowed) in a served domain.
  const ours = (k: ConfigKey, what: string, a: string, catchAll: boolean): boolean => {
    const why = catchAll && a.startsWith("@") ? domainProblem(a.slice(1)) : addressProblem(a);
    if (why !== undefined) bad(k, `${what} "${a}" ${why}`);
    else if (a !== a.toLowerCase()) bad(k, `${what} "${a}" has upper-case letters; write it in lower case`);
    else if (!served.has(domainOf(a))) bad(k, `${what} "${a}" is not in a domain of mailstack:domains`);
    else return true;
    return false;
  };

  const users: UserConfig[] = [];
  const seen = new Set<string>();
  const userEntries = parseList(get("users"), (why) => bad("users", why), {
    address: { type: "string", required: true },
    quota: { type: "quota" },
    enabled: { type: "boolean" },
    sendAs: { type: "string[]" },
  });
  for (const e of userEntries) {
    const address = e.address as string;
    if (!ours("users", "address", address, false)) continue;
    if (seen.has(address)) {
      bad("users", `address "${address}" is listed twice`);
      continue;
    }
    seen.add(address);
    const quotaBytes = parseQuota((e.quota as string | number | undefined) ?? 0);
    if (quotaBytes === undefined)
      bad("users", `${address}: quota "${e.quota}" is not a size such as 2G, 512M or 0 (unlimited)`);
    const sendAs = (e.sendAs as string[] | undefined) ?? [];
    for (const a of sendAs) ours("users", `${address}: sendAs`, a, true);
    users.push({
      address,
      quotaBytes: quotaBytes ?? 0,
      enabled: (e.enabled as boolean | undefined) ?? true,
      sendAs,
    });
  }

  const aliases: AliasConfig[] = [];
  const pairs = new Set<string>();
  const aliasEntries = parseList(get("aliases"), (why) => bad("aliases", why), {
    source: { type: "string", required: true },
    destination: { type: "string", required: true },
  });
  for (const e of aliasEntries) {
    const source = e.source as string;
    const destination = e.destination as string;
    if (!ours("aliases", "source", source, true)) continue;
    const why = addressProblem(destination);
    if (why !== undefined) {
      bad("aliases", `destination "${destination}" ${why}`);
      continue;
    }
    const pair = `${source} ${destination.toLowerCase()}`;
    if (pairs.has(pair)) bad("aliases", `${source} -> ${destination} is listed twice`);
    pairs.add(pair);
    aliases.push({ source, destination: destination.toLowerCase() });
  }

  const hashes: Record<string, string> = {};
  const rawHashes = get("passwordHashes");
  if (rawHashes !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawHashes);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      bad("passwordHashes", "is not an object of address -> hash");
    } else {
      for (const [address, hash] of Object.entries(parsed)) {
        // Never echo a hash: it is secret.
        if (!seen.has(address))
          bad("passwordHashes", `has a hash for "${address}", which is not in mailstack:users`);
        else if (typeof hash !== "string" || !HASH.test(hash)) {
          bad(
            "passwordHashes",
            `the hash for ${address} is not a Dovecot {ARGON2ID} or {BLF-CRYPT} hash (make one with doveadm pw -s ARGON2ID)`,
          );
        } else hashes[address] = hash;
      }
    }
  }
  const local = new Set(domains.filter((d) => d.authType === "local").map((d) => d.name));
  for (const u of users) {
    if (local.has(domainOf(u.address)) && hashes[u.address] === undefined && u.enabled) {
      bad("passwordHashes", `has no hash for ${u.address}, whose domain authenticates locally`);
    }
  }

  const removed = get("removedAccounts") ?? "disable";
  if (removed !== "disable" && removed !== "delete")
    bad("removedAccounts", `value "${removed}" is not disable or delete`);
  return { users, aliases, hashes, removed: removed === "delete" ? "delete" : "disable" };
}

/** How mailstack:dkimPrivateKeys names the key of `selector` in `domain`. */
export function dkimKeyId(domain: string, selector: string): string {
  return `${domain}/${selector}`;
}

/** The DKIM config of an active domain that mailstack:dkim does not list. */
export function defaultDkim(domain: string): DkimDomainConfig {
  return { domain, selectors: [{ name: "mail", source: "generate", algorithm: "rsa2048" }], sign: "mail" };
}

const DKIM_ALGORITHMS: readonly string[] = ["rsa2048", "rsa4096", "ed25519"] satisfies DkimAlgorithm[];
const DKIM_FIELDS = ["selectors", "sign"];
const DKIM_SELECTOR_FIELDS = ["name", "source", "algorithm"];

/** `value` parsed as a JSON object; undefined when it is not JSON or not an object (a list, a scalar). */
function parseJsonObject(value: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** A JSON object; empty when `value` is unset, and also (after telling `bad`) when it is no object. */
function jsonObject(value: string | undefined, bad: () => void): Record<string, unknown> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (parsed === undefined) bad();
  return parsed ?? {};
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One domain's entry of mailstack:dkim; undefined when it has problems (each told to `bad`). */
function parseDkimDomain(
  domain: string,
  entry: unknown,
  bad: (why: string, fixText?: string) => void,
): DkimDomainConfig | undefined {
  // A --path into this domain's entry, quoted for the shell.
  const at = (rest: string) => `'dkim["${domain}"]${rest}'`;
  const setName = `pulumi config set --path ${at(".selectors[0].name")} s2026a`;
  if (!isObject(entry)) {
    bad('is not an object {"selectors": [...], "sign": "..."}', setName);
    return undefined;
  }
  let problems = 0;
  const report = (why: string, fixText?: string) => {
    problems++;
    bad(why, fixText);
  };
  for (const f of Object.keys(entry)) {
    if (!DKIM_FIELDS.includes(f)) {
      report(
        `has unknown field "${f}" (known: ${DKIM_FIELDS.join(", ")})`,
        `pulumi config rm --path ${at(`.${f}`)}`,
      );
    }
  }
  const list = entry.selectors;
  if (!Array.isArray(list) || list.length === 0) {
    report('needs "selectors", a non-empty list such as [{"name": "s2026a"}]', setName);
    return undefined;
  }
  const selectors: DkimSelectorConfig[] = [];
  const names = new Set<string>();
  list.forEach((sel: unknown, i) => {
    const here = `selectors[${i}]`;
    if (!isObject(sel)) {
      report(`${here} is not an object such as {"name": "s2026a"}`, setName);
      return;
    }
    for (const f of Object.keys(sel)) {
      if (!DKIM_SELECTOR_FIELDS.includes(f)) {
        report(
          `${here} has unknown field "${f}" (known: ${DKIM_SELECTOR_FIELDS.join(", ")})`,
          `pulumi config rm --path ${at(`.${here}.${f}`)}`,
        );
      }
    }
    const name = sel.name;
    const setThisName = `pulumi config set --path ${at(`.${here}.name`)} s2026a`;
    if (typeof name !== "string") {
      report(`${here} has no "name"`, setThisName);
      return;
    }
    if (!LABEL.test(name)) {
      report(
        `${here} name "${name}" is not a DNS label (lower-case letters, digits and inner hyphens, at most 63)`,
        setThisName,
      );
      return;
    }
    if (names.has(name)) {
      report(
        `selector "${name}" is listed twice; each name must be unique`,
        `pulumi config rm --path ${at(`.${here}`)}`,
      );
      return;
    }
    names.add(name);
    const source = sel.source ?? "generate";
    const algorithm = sel.algorithm;
    if (source !== "generate" && source !== "import") {
      report(
        `selector "${name}" has source "${String(source)}", not generate or import`,
        `pulumi config set --path ${at(`.${here}.source`)} import`,
      );
    } else if (source === "import") {
      if (algorithm !== undefined) {
        report(
          `selector "${name}" has source import and an algorithm; an imported key has its own, so remove it`,
          `pulumi config rm --path ${at(`.${here}.algorithm`)}`,
        );
      } else selectors.push({ name, source });
    } else if (
      algorithm !== undefined &&
      (typeof algorithm !== "string" || !DKIM_ALGORITHMS.includes(algorithm))
    ) {
      report(
        `selector "${name}" has algorithm "${String(algorithm)}", not ${DKIM_ALGORITHMS.join(", ")}`,
        `pulumi config set --path ${at(`.${here}.algorithm`)} rsa2048`,
      );
    } else {
      selectors.push({ name, source, algorithm: (algorithm as DkimAlgorithm | undefined) ?? "rsa2048" });
    }
  });
  const sign = entry.sign;
  const first = [...names][0] ?? "s2026a";
  const setSign = (to: string) => `pulumi config set --path ${at(".sign")} ${to}`;
  if (typeof sign !== "string") {
    report('has no "sign": name the selector that signs', setSign(first));
  } else if (!names.has(sign)) {
    report(`sign "${sign}" is not one of its selectors (${[...names].join(", ")})`, setSign(first));
  }
  return problems === 0 && typeof sign === "string" ? { domain, selectors, sign } : undefined;
}

/**
 * The DKIM selectors of every active domain (mailstack:dkim, else the
 * default) and the imported keys' PEMs, checked against each other. The PEMs'
 * contents are checked by dkimPrivateKeyProblems, with the rest of the config.
 */
function parseDkim(
  get: (k: ConfigKey) => string | undefined,
  domains: readonly DomainConfig[],
  bad: (k: ConfigKey, why: string, fixText?: string) => void,
  keysUnreadable: boolean,
): { readonly dkim: DkimDomainConfig[]; readonly pems: Record<string, string> } {
  const listed = new Map<string, DkimDomainConfig>();
  // Domains whose entry has problems: their imported keys cannot be judged stale.
  const unsure = new Set<string>();
  const entries = jsonObject(get("dkim"), () =>
    bad("dkim", "is not an object of domain -> {selectors, sign}; set entries with --path"),
  );
  for (const [name, entry] of Object.entries(entries)) {
    const domain = domains.find((d) => d.name === name);
    const rm = `pulumi config rm --path 'dkim["${name}"]'`;
    unsure.add(name);
    if (domain === undefined) {
      bad(
        "dkim",
        `has an entry for "${name}", which is not in mailstack:domains`,
        `${rm}, or add the domain`,
      );
    } else if (!domain.active) {
      bad("dkim", `has an entry for "${name}", which is inactive (active: false) and gets no DKIM keys`, rm);
    } else {
      const parsed = parseDkimDomain(name, entry, (why, fixText) => bad("dkim", `${name}: ${why}`, fixText));
      if (parsed !== undefined) {
        listed.set(name, parsed);
        unsure.delete(name);
      }
    }
  }
  const dkim = domains.filter((d) => d.active).map((d) => listed.get(d.name) ?? defaultDkim(d.name));

  const imported = dkim.flatMap((d) =>
    d.selectors.filter((s) => s.source === "import").map((s) => dkimKeyId(d.domain, s.name)),
  );
  const pems: Record<string, string> = {};
  const supplied = jsonObject(get("dkimPrivateKeys"), () =>
    bad("dkimPrivateKeys", 'is not an object of "domain/selector" -> PEM private key'),
  );
  for (const [id, pem] of Object.entries(supplied)) {
    // Never echo a key: it is secret.
    if (!imported.includes(id)) {
      if (unsure.has(id.slice(0, id.lastIndexOf("/")))) continue;
      bad(
        "dkimPrivateKeys",
        `has a key for "${id}", which no selector of mailstack:dkim imports (a stale secret)`,
        `pulumi config rm --path 'dkimPrivateKeys["${id}"]', or list the selector in mailstack:dkim with "source": "import"`,
      );
    } else if (typeof pem !== "string") {
      bad("dkimPrivateKeys", `the key for "${id}" is not a string holding a PEM private key`);
    } else pems[id] = pem;
  }
  if (!keysUnreadable) {
    for (const id of imported) {
      if (supplied[id] !== undefined) continue;
      bad(
        "dkimPrivateKeys",
        `has no key for "${id}", which mailstack:dkim imports`,
        `pulumi config set --secret --path 'dkimPrivateKeys["${id}"]' < ${id.replace("/", ".")}.pem, or make it "source": "generate"`,
      );
    }
  }
  return { dkim, pems };
}

/**
 * Returns why `pem` cannot sign DKIM mail, or undefined when it can: it must
 * be an unencrypted PEM private key, RSA of at least 2048 bits (RFC 8301) or
 * Ed25519 (RFC 8463). Never quotes the key.
 */
export function dkimKeyProblem(pem: string): string | undefined {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    return /ENCRYPTED/.test(pem)
      ? "is encrypted; import it without a passphrase (openssl pkey -in old.pem -out new.pem)"
      : "is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)";
  }
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      return bits >= 2048 ? undefined : `is an RSA key of ${bits} bits; DKIM needs 2048 or more (RFC 8301)`;
    }
    case "ed25519":
      return undefined;
    default:
      return `is a key of type ${key.asymmetricKeyType ?? "unknown"}; DKIM keys are RSA or Ed25519`;
  }
}

/**
 * What is wrong with each imported DKIM key, naming its
 * mailstack:dkimPrivateKeys["domain/selector"], never its text. Pure.
 */
export function dkimPrivateKeyProblems(pems: Readonly<Record<string, string>>): string[] {
  return Object.entries(pems).flatMap(([id, pem]) => {
    const why = dkimKeyProblem(pem);
    return why === undefined
      ? []
      : [
          `${key("dkimPrivateKeys")}["${id}"] ${why}. Fix: pulumi config set --secret --path 'dkimPrivateKeys["${id}"]' < ${id.replace("/", ".")}.pem, with a key such as openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 makes`,
        ];
  });
}

/** The imported DKIM keys, unchanged; throws a ConfigError naming each bad one. Pure. */
export function validateDkimPrivateKeys(
  pems: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  const problems = dkimPrivateKeyProblems(pems);
  if (problems.length > 0) throw new ConfigError(problems);
  return pems;
}

/** `~/x` under `home`; any other path as is. */
function expandHome(p: string, home: string): string {
  return p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/**
 * The LDAP bind password as a secret Output, read from the deploying machine
 * when given by path (like readPrivateKey). One trailing newline is dropped.
 */
export function readLdapBindPassword(ldap: LdapConfig, home = os.homedir()): pulumi.Output<string> {
  const source = ldap.bindPassword;
  if ("secret" in source) return source.secret;
  const file = expandHome(source.path, home);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new ConfigError([
      `${key("ldapBindPasswordPath")} points at ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: ${fix("ldapBindPasswordPath")}`,
    ]);
  }
  if (text === "" || /[\r\n\0]/.test(text)) {
    throw new ConfigError([
      `${key("ldapBindPasswordPath")}: the file ${file} must hold the password on one line. Fix: write it with printf %s PASSWORD > ${file}`,
    ]);
  }
  return pulumi.secret(text);
}

/**
 * The private ACME server's CA certificate (mailstack:acmeCaBundlePath), read
 * on the deploying machine; undefined when none is set. Not a secret: the
 * host gets it as a command argument.
 */
export function readAcmeCaBundle(tls: TlsConfig, home = os.homedir()): string | undefined {
  if (tls.caBundlePath === undefined) return undefined;
  const file = expandHome(tls.caBundlePath, home);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ConfigError([
      `${key("acmeCaBundlePath")} points at ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: ${fix("acmeCaBundlePath")}`,
    ]);
  }
  if (!/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----$/.test(text)) {
    throw new ConfigError([
      `${key("acmeCaBundlePath")}: ${file} does not hold one PEM certificate. Fix: point it at the CA certificate of the ACME server's HTTPS listener`,
    ]);
  }
  return text;
}

/** Reads this stack's config from Pulumi. The only caller of Pulumi's config API. */
export function loadConfig(): StackConfig {
  // isConfigSecret is exported at run time but missing from the typings.
  const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(k: string): boolean;
  };
  const prefix = `${NAMESPACE}:`;
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (!k.startsWith(prefix)) continue;
    const short = k.slice(prefix.length);
    values[short] = v;
    if (isConfigSecret(k)) secretKeys.add(short);
  }
  return parseConfig({ values, secretKeys });
}

/**
 * The deploy key as a secret Output. A key given by path is read here, on the
 * deploying machine, and never leaves it except inside the encrypted state.
 */
export function readPrivateKey(ssh: SshConfig, home = os.homedir()): pulumi.Output<string> {
  const source = ssh.privateKey;
  if ("secret" in source) return source.secret;
  const file = source.path.startsWith("~/") ? path.join(home, source.path.slice(2)) : source.path;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      `${key("sshPrivateKeyPath")} points at ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: ${fix("sshPrivateKeyPath")}`,
    ]);
  }
  const why = keyProblem(text);
  if (why !== undefined) throw new ConfigError([`${key("sshPrivateKeyPath")}: the file ${file} ${why}`]);
  return pulumi.secret(text);
}
