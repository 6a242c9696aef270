// Declarative accounts as SQL: the domains, users, aliases and sending rights
// in stack config become one transaction that makes the tables match. Rows
// removed from config are disabled (or deleted, if config says so); mail on
// disk is never touched here. Password hashes go in a separate script, so the
// readable one can show in `pulumi preview --diff` and the secret one cannot.
import type { AccountsConfig, DomainConfig } from "./settings";
import type { DatabaseSpec } from "./spec";

/** A SQL string literal. Values are validated already; quoting keeps it safe regardless. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function values(rows: readonly (readonly (string | number | boolean | null)[])[]): string {
  const lit = (v: string | number | boolean | null) =>
    v === null ? "NULL" : typeof v === "string" ? sqlString(v) : String(v);
  return rows.map((r) => `  (${r.map(lit).join(", ")})`).join(",\n");
}

/** A temporary table of wanted rows; an empty list still makes the (empty) table. */
function want(
  table: string,
  columns: string,
  rows: readonly (readonly (string | number | boolean | null)[])[],
) {
  const out = [`CREATE TEMP TABLE ${table} (${columns}) ON COMMIT DROP;`];
  if (rows.length > 0) out.push(`INSERT INTO ${table} VALUES\n${values(rows)};`);
  return out;
}

/** The accounts sync, run by psql as a superuser in the mail database. Pure. */
export function renderAccountsSql(
  spec: DatabaseSpec,
  domains: readonly DomainConfig[],
  accounts: Omit<AccountsConfig, "passwordHashes">,
): string {
  const byName = <T>(rows: T[], key: (r: T) => string) => rows.sort((a, b) => key(a).localeCompare(key(b)));
  const gone =
    accounts.removed === "delete"
      ? (table: string, where: string) => `DELETE FROM ${table} WHERE ${where};`
      : (table: string, where: string) => `UPDATE ${table} SET enabled = false WHERE enabled AND ${where};`;
  const sendAs = accounts.users.flatMap((u) => u.sendAs.map((a) => [a, u.address] as const));

  return `${[
    "-- Accounts from stack config (mailstack:domains, users, aliases). Generated; one transaction.",
    "\\set ON_ERROR_STOP on",
    "BEGIN;",
    `SET ROLE ${spec.owner};`,
    "",
    ...want(
      "want_domains",
      "domain_name text, auth_type text, ldap_base_dn text, is_active boolean",
      byName([...domains], (d) => d.name).map((d) => [d.name, d.authType, d.ldapBaseDn ?? null, d.active]),
    ),
    "INSERT INTO domains (domain_name, auth_type, ldap_base_dn, is_active) SELECT * FROM want_domains",
    "  ON CONFLICT (domain_name) DO UPDATE SET auth_type = EXCLUDED.auth_type,",
    "    ldap_base_dn = EXCLUDED.ldap_base_dn, is_active = EXCLUDED.is_active;",
    "-- A domain removed from config stops receiving mail; its rows stay.",
    "UPDATE domains SET is_active = false WHERE is_active AND domain_name NOT IN (SELECT domain_name FROM want_domains);",
    "",
    ...want(
      "want_users",
      "email text, quota_bytes bigint, enabled boolean",
      byName([...accounts.users], (u) => u.address).map((u) => [u.address, u.quotaBytes, u.enabled]),
    ),
    "INSERT INTO virtual_users (domain_id, email, quota_bytes, enabled)",
    "  SELECT d.id, w.email, w.quota_bytes, w.enabled FROM want_users w",
    "  JOIN domains d ON d.domain_name = split_part(w.email, '@', 2)",
    "  ON CONFLICT (email) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes, enabled = EXCLUDED.enabled,",
    "    updated_at = now()",
    "  WHERE (virtual_users.quota_bytes, virtual_users.enabled) IS DISTINCT FROM (EXCLUDED.quota_bytes, EXCLUDED.enabled);",
    gone("virtual_users", "email NOT IN (SELECT email FROM want_users)"),
    "",
    ...want(
      "want_aliases",
      "source text, destination text",
      byName([...accounts.aliases], (a) => `${a.source} ${a.destination}`).map((a) => [
        a.source,
        a.destination,
      ]),
    ),
    "INSERT INTO virtual_aliases (domain_id, source, destination)",
    "  SELECT d.id, w.source, w.destination FROM want_aliases w",
    "  JOIN domains d ON d.domain_name = split_part(w.source, '@', 2)",
    "  ON CONFLICT (source, destination) DO UPDATE SET enabled = true WHERE NOT virtual_aliases.enabled;",
    gone("virtual_aliases", "(source, destination) NOT IN (SELECT source, destination FROM want_aliases)"),
    "",
    ...want(
      "want_sender_logins",
      "address text, login text",
      byName([...sendAs], ([a, l]) => `${a} ${l}`),
    ),
    "-- Sending rights follow config exactly: a right removed is a right revoked.",
    "DELETE FROM sender_logins WHERE (address, login) NOT IN (SELECT address, login FROM want_sender_logins);",
    "INSERT INTO sender_logins (address, login) SELECT address, login FROM want_sender_logins",
    "  ON CONFLICT (address, login) DO NOTHING;",
    "COMMIT;",
  ].join("\n")}\n`;
}

/** Sets every user's password hash (NULL where config has none). Its text is secret. Pure. */
export function renderPasswordsSql(
  spec: DatabaseSpec,
  users: readonly { readonly address: string }[],
  hashes: Readonly<Record<string, string>>,
): string {
  const rows = [...users]
    .sort((a, b) => a.address.localeCompare(b.address))
    .map((u) => [u.address, hashes[u.address] ?? null] as const);
  const lines = ["\\set ON_ERROR_STOP on", "BEGIN;", `SET ROLE ${spec.owner};`];
  if (rows.length > 0) {
    lines.push(
      "UPDATE virtual_users u SET password_hash = w.hash, updated_at = now()",
      `  FROM (VALUES\n${values(rows)}\n  ) AS w (email, hash)`,
      "  WHERE u.email = w.email AND u.password_hash IS DISTINCT FROM w.hash;",
    );
  }
  lines.push("COMMIT;");
  return `${lines.join("\n")}\n`;
}
