// The report's "Domains and accounts" section: config's domains, users and
// aliases read back from the accounts sync's SQL in the state, or the domains
// output alone when that is unreadable.
import { table } from "./markdown";
import type { Outputs } from "./outputs";
import { type AccountRows, byType, child, parseAccountsSql, SECRET, type StackState, text } from "./state";

export interface DomainAudit {
  readonly name: string;
  readonly active: boolean | null;
  readonly authType: string | null;
  readonly ldapBaseDn: string | null;
  readonly users: { readonly enabled: number; readonly disabled: number } | null;
  readonly aliases: readonly { readonly source: string; readonly destination: string }[] | null;
  readonly sendAsRights: number | null;
}

/** The section as data: what the JSON report holds under its key. Pure. */
export function domainsOf(state: StackState, out: Outputs): { source: string; list: DomainAudit[] } {
  const db = byType(state, "mailstack:database:MailDatabase");
  const sync = child(state, db, `${db?.name}-accounts`);
  const sql = text(sync?.inputs.stdin);
  const rows: AccountRows | undefined = sql && sql !== SECRET ? parseAccountsSql(sql) : undefined;
  if (!rows) {
    return {
      source: "the domains output only: the state holds no readable accounts sync",
      list: (out.domains ?? []).map((name) => ({
        name,
        active: null,
        authType: null,
        ldapBaseDn: null,
        users: null,
        aliases: null,
        sendAsRights: null,
      })),
    };
  }
  const inDomain = (address: string, d: string) => address.slice(address.lastIndexOf("@") + 1) === d;
  return {
    source: `the accounts sync's SQL (${sync?.name}, inputs.stdin): config's domains, users and aliases, no password hash`,
    list: rows.domains.map((d) => {
      const users = rows.users.filter((u) => inDomain(u.address, d.name));
      return {
        name: d.name,
        active: d.active,
        authType: d.authType,
        ldapBaseDn: d.ldapBaseDn,
        users: {
          enabled: users.filter((u) => u.enabled).length,
          disabled: users.filter((u) => !u.enabled).length,
        },
        aliases: rows.aliases.filter((a) => inDomain(a.source, d.name)),
        sendAsRights: rows.sendAs.filter((s) => inDomain(s.address, d.name)).length,
      };
    }),
  };
}

/** The section's Markdown, below its heading. Pure. */
export function domainsMarkdown(domains: ReturnType<typeof domainsOf>): string[] {
  return [
    `From ${domains.source}. Users of LDAP domains that are not in config are not counted.`,
    "",
    ...table(
      ["Domain", "Active", "Auth", "Users enabled", "Users disabled", "Aliases", "Send-as rights"],
      domains.list.map((d) => [
        d.name,
        d.active,
        d.authType === "ldap" ? `ldap (${d.ldapBaseDn ?? "no base DN"})` : d.authType,
        d.users?.enabled ?? null,
        d.users?.disabled ?? null,
        d.aliases?.length ?? null,
        d.sendAsRights,
      ]),
    ),
    "",
    "Aliases:",
    "",
    ...table(
      ["Source", "Destination"],
      domains.list.flatMap((d) => (d.aliases ?? []).map((a) => [a.source, a.destination])),
    ),
  ];
}
