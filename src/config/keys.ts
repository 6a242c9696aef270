// Every config key of the stack: the union of the keys each concern owns in
// its settings.ts. Pulumi.yaml's `config:` block is generated from this list
// (schema.ts, `npm run schema`), never written by hand.

import * as backup from "../concerns/backup/settings";
import * as database from "../concerns/database/settings";
import * as dkim from "../concerns/dkim/settings";
import * as dns from "../concerns/dns/settings";
import * as dovecot from "../concerns/dovecot/settings";
import * as fail2ban from "../concerns/fail2ban/settings";
import * as filter from "../concerns/filter/settings";
import * as health from "../concerns/health/settings";
import * as host from "../concerns/host/settings";
import * as postfix from "../concerns/postfix/settings";
import * as tls from "../concerns/tls/settings";
import type { KeySpec } from "../core/settings";

/** The concerns' keys, in the order Pulumi.yaml lists them. */
export const CONCERN_KEYS = {
  host: host.KEYS,
  database: database.KEYS,
  postfix: postfix.KEYS,
  dovecot: dovecot.KEYS,
  dkim: dkim.KEYS,
  filter: filter.KEYS,
  dns: dns.KEYS,
  tls: tls.KEYS,
  fail2ban: fail2ban.KEYS,
  backup: backup.KEYS,
  health: health.KEYS,
} as const;

export const CONFIG_KEYS = {
  ...host.KEYS,
  ...database.KEYS,
  ...postfix.KEYS,
  ...dovecot.KEYS,
  ...dkim.KEYS,
  ...filter.KEYS,
  ...dns.KEYS,
  ...tls.KEYS,
  ...fail2ban.KEYS,
  ...backup.KEYS,
  ...health.KEYS,
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Keys two concerns both declare: none may be (a key has one owner). */
export function duplicateKeys(): string[] {
  const seen = new Map<string, string>();
  const dups: string[] = [];
  for (const [concern, keys] of Object.entries(CONCERN_KEYS)) {
    for (const k of Object.keys(keys)) {
      const owner = seen.get(k);
      if (owner !== undefined) dups.push(`${k} (${owner} and ${concern})`);
      seen.set(k, concern);
    }
  }
  return dups;
}
