// The stack's config as one typed object. `parseConfig` is pure: it reads the
// raw strings through each concern's parse(), collects every problem, each
// naming its key and the fix, and throws once with all of them.
import type * as pulumi from "@pulumi/pulumi";
import * as backup from "../concerns/backup/settings";
import { DEFAULT_S3_REGION } from "../concerns/backup/storage";
import * as database from "../concerns/database/settings";
import * as dkim from "../concerns/dkim/settings";
import * as dns from "../concerns/dns/settings";
import type { OboxOptions } from "../concerns/dovecot/render-obox";
import * as dovecot from "../concerns/dovecot/settings";
import * as fail2ban from "../concerns/fail2ban/settings";
import * as filter from "../concerns/filter/settings";
import * as health from "../concerns/health/settings";
import * as host from "../concerns/host/settings";
import * as postfix from "../concerns/postfix/settings";
import * as tls from "../concerns/tls/settings";
import { configKey, makeReader, type RawConfig } from "../core/settings";
import { ConfigError } from "./errors";
import { CONFIG_KEYS } from "./keys";

export interface StackConfig extends host.HostConfig {
  /** Sorted by name, as are the accounts' users and aliases: config order means nothing there. */
  readonly domains: readonly database.DomainConfig[];
  readonly database: database.DatabaseConfig;
  readonly accounts: database.AccountsConfig;
  /** The message size limit (mailstack:messageSizeLimit), which Dovecot and the filter apply too. */
  readonly postfix: postfix.PostfixSettings;
  /** Set exactly when some domain has authType ldap. */
  readonly ldap?: dovecot.LdapConfig;
  /** DKIM selectors of every active domain, in the order of `domains` (by name). */
  readonly dkim: readonly dkim.DkimDomainConfig[];
  /** "domain/selector" -> PEM of each imported selector, a secret. */
  readonly dkimPrivateKeys: pulumi.Output<Readonly<Record<string, string>>>;
  readonly filter: filter.FilterConfig;
  readonly fail2ban: fail2ban.Fail2banSettings;
  readonly dns: dns.DnsConfig;
  readonly tls: tls.TlsConfig;
  /** Where backups go (mailstack:storageMode); the credentials are secret Outputs. */
  readonly storage: backup.StorageConfig;
  readonly backup: backup.BackupConfig;
  /** mailstack-health's thresholds and schedule. */
  readonly health: health.HealthSettings;
  /** Set in obox mode (mailstack:mailStorage obox): the cache and addressing; the bucket is storage's. */
  readonly obox?: OboxOptions;
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

/** A key in config that no concern declares: a typo or a stale setting. */
function unknownKeys(raw: RawConfig): string[] {
  const known = Object.keys(CONFIG_KEYS);
  return Object.keys(raw.values)
    .filter((k) => !known.includes(k))
    .map((k) => {
      const near = known.filter((c) => distance(c, k) <= 2);
      const hint = near.length > 0 ? `did you mean ${near.map(configKey).join(" or ")}? ` : "";
      return `${configKey(k)} is not a setting of this stack. Fix: ${hint}remove it with: pulumi config rm ${configKey(k)}`;
    });
}

/**
 * Validates raw config and returns the typed stack config. Throws a
 * `ConfigError` listing every problem, each naming its key and the fix.
 */
export function parseConfig(raw: RawConfig): StackConfig {
  const problems = unknownKeys(raw);
  const r = makeReader(CONFIG_KEYS, raw, problems);

  const hostConfig = host.parse(r);
  const postfixConfig = postfix.parse(r);
  const filterConfig = filter.parse(r);
  const fail2banConfig = fail2ban.parse(r);
  const { domains, first: firstDomain } = database.parseDomainList(r);
  const databaseConfig = database.parseDatabase(r);
  const accounts = database.parseAccounts(r, domains);
  const ldap = dovecot.parseLdap(r, domains);
  const dkimConfig = dkim.parse(r, domains);
  const { dns: dnsConfig, cloudflareApiToken } = dns.parse(r, {
    domains,
    host: hostConfig.ssh.host,
    adminEmail: hostConfig.adminEmail,
  });
  const tlsConfig = tls.parse(r, cloudflareApiToken, (why) => r.bad("cloudflareApiToken", why));
  const storage = backup.parseStorage(r, firstDomain);
  const backupConfig = backup.parseBackup(r, storage, databaseConfig.host ?? "");
  const healthConfig = health.parse(r);
  const obox = dovecot.parseMailStorage(
    r,
    storage.mode === "none"
      ? undefined
      : { endpoint: storage.endpoint, bucket: storage.bucket, region: storage.region ?? DEFAULT_S3_REGION },
  );

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...hostConfig,
    domains,
    database: databaseConfig,
    accounts,
    postfix: postfixConfig,
    ...(ldap ? { ldap } : {}),
    dkim: dkimConfig.domains,
    dkimPrivateKeys: dkimConfig.privateKeys,
    filter: filterConfig,
    fail2ban: fail2banConfig,
    dns: dnsConfig,
    tls: tlsConfig,
    storage,
    ...(obox ? { obox } : {}),
    backup: backupConfig,
    health: healthConfig,
  };
}
