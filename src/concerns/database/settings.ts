// The mail database and what lives in it: the domains, users, aliases and
// password hashes, and how the stack reaches PostgreSQL (managed through an
// SSH tunnel, or preprovisioned by hand).
import * as pulumi from "@pulumi/pulumi";
import { canonical, type KeySpecs, parseList, type Reader } from "../../core/settings";
import { addressProblem, DN, domainProblem, hostProblem } from "../../core/validators";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  domains: {
    type: "array",
    items: "object",
    required: true,
    description: 'Mail domains served by the host, each an object such as {"name": "tlabs.team"}.',
    example: "--path 'domains[0].name' tlabs.team",
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
} as const satisfies KeySpecs;

type DatabaseKey = keyof typeof KEYS;

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

/** mailstack:domains, parsed. */
export interface DomainList {
  /** Sorted by name: their order in config means nothing else (README, "Order in the config"). */
  readonly domains: readonly DomainConfig[];
  /**
   * The first domain as listed, the one order that means something: the
   * default backup bucket is named after it (backup's parseStorage).
   * Undefined when no domain is valid.
   */
  readonly first?: string;
}

/** The domains; every other concern reads them from here. */
export function parseDomainList(r: Reader<DatabaseKey>): DomainList {
  const listed = parseDomains(r.get("domains"), (why) => r.bad("domains", why));
  const first = listed[0]?.name;
  return { domains: canonical(listed, (d) => d.name), ...(first !== undefined ? { first } : {}) };
}

/** How the stack reaches PostgreSQL; problems go to the reader. */
export function parseDatabase(r: Reader<DatabaseKey>): DatabaseConfig {
  const mode = r.str("dbMode", "managed", (v) =>
    v === "managed" || v === "preprovisioned" ? undefined : "is not managed or preprovisioned",
  );
  const host = r.str("dbHost", "", hostProblem);
  const port = r.port("dbPort", 5432);
  const tunnelPort = r.port("dbTunnelPort", 15432);
  const adminUser = r.str("dbAdminUser", "postgres", (v) =>
    /^[a-z_][a-z0-9_]*$/.test(v) ? undefined : "is not a plain PostgreSQL role name",
  );
  const adminPassword = r.str("dbAdminPassword", "");
  const ownerPassword = r.str("dbOwnerPassword", "");
  if (mode === "managed" && adminPassword === "") {
    r.bad("dbAdminPassword", "is required in managed mode (or set mailstack:dbMode preprovisioned)");
  }
  return {
    mode: mode as DbMode,
    ...(host !== "" ? { host } : {}),
    port,
    tunnelPort,
    adminUser,
    ...(adminPassword !== "" ? { adminPassword: pulumi.secret(adminPassword) } : {}),
    ...(ownerPassword !== "" ? { ownerPassword: pulumi.secret(ownerPassword) } : {}),
  };
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
    } else if (ldapBaseDn !== undefined && !DN.test(ldapBaseDn)) {
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
export function parseAccounts(r: Reader<DatabaseKey>, domains: readonly DomainConfig[]): AccountsConfig {
  const get = r.get;
  const bad = (k: DatabaseKey, why: string) => r.bad(k, why);
  const served = new Set(domains.map((d) => d.name));
  const domainOf = (a: string) => a.slice(a.lastIndexOf("@") + 1);
  // An address of ours: a valid address (or @domain where allowed) in a served domain.
  const ours = (k: DatabaseKey, what: string, a: string, catchAll: boolean): boolean => {
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
    // A set of rights: its order means nothing.
    const sendAs = canonical((e.sendAs as string[] | undefined) ?? [], (a) => a);
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

  for (const loop of aliasLoops(aliases, users, domains)) {
    r.bad(
      "aliases",
      `has a loop, ${loop.join(" -> ")}: mail to ${loop.length === 2 ? "this address" : "these addresses"} could never be delivered, and senders would retry for days`,
      `pulumi config set --path 'aliases[N].destination' <a mailbox>, for one alias of the loop (or remove it)`,
    );
  }

  const removed = get("removedAccounts") ?? "disable";
  if (removed !== "disable" && removed !== "delete")
    bad("removedAccounts", `value "${removed}" is not disable or delete`);
  // Problems above name the entries as listed; from here on the order is the stack's own.
  return {
    users: canonical(users, (u) => u.address),
    aliases: canonical(aliases, (a) => `${a.source} ${a.destination}`),
    passwordHashes: pulumi.secret(hashes),
    removed: removed === "delete" ? "delete" : "disable",
  };
}

/**
 * The alias loops of the config, each as the path that comes back to where it
 * started (a -> b -> a), once per loop. An address expands as Postfix's
 * virtual_alias_maps query (files/postfix/pgsql/virtual_alias_maps.cf) makes
 * it: to its aliases' destinations, plus itself when it is an enabled mailbox
 * (which ends there); with neither, to its domain's catch-all; an address
 * outside the active domains is final. An address that expands to itself ends
 * too. Pure.
 */
export function aliasLoops(
  aliases: readonly AliasConfig[],
  users: readonly UserConfig[],
  domains: readonly DomainConfig[],
): string[][] {
  const active = new Set(domains.filter((d) => d.active).map((d) => d.name));
  const mailboxes = new Set(users.filter((u) => u.enabled).map((u) => u.address));
  const to = new Map<string, string[]>();
  for (const a of aliases) to.set(a.source, [...(to.get(a.source) ?? []), a.destination]);
  const domainOf = (a: string) => a.slice(a.lastIndexOf("@") + 1);
  const next = (a: string): string[] => {
    if (!active.has(domainOf(a))) return [];
    const exact = to.get(a);
    const found = exact ?? (mailboxes.has(a) ? [] : (to.get(`@${domainOf(a)}`) ?? []));
    return found.filter((d) => d !== a);
  };

  const loops = new Map<string, string[]>();
  const done = new Set<string>();
  const walk = (a: string, path: string[]): void => {
    const at = path.indexOf(a);
    if (at !== -1) {
      const loop = path.slice(at);
      // One loop, whichever address the walk met first: named from its smallest address.
      const first = loop.indexOf([...loop].sort()[0] ?? a);
      const named = [...loop.slice(first), ...loop.slice(0, first)];
      loops.set(named.join(" "), [...named, named[0] ?? a]);
      return;
    }
    if (done.has(a)) return;
    for (const d of next(a)) walk(d, [...path, a]);
    done.add(a);
  };
  for (const source of [...to.keys()].sort()) if (!source.startsWith("@")) walk(source, []);
  for (const u of [...mailboxes].sort()) walk(u, []);
  return [...loops.values()];
}
