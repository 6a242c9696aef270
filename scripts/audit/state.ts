// Reading a `pulumi stack export` for the audit report: the resources, and the
// readers of the few non-secret texts the report takes from them (the
// accounts sync's SQL, the zone fragments; push payloads are read by
// policy/rules.ts' parsePush). Each reader is the inverse of the stack's own
// renderer (src/concerns/database/accounts-sql.ts, src/concerns/dns/records.ts), tested by
// a round trip.
// Nothing here prints; the report (report.ts) picks the fields it shows.
import { type PolicyResource, txtText } from "../../policy/rules";

/** The key Pulumi marks an encrypted value with, in state and in exports. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Shown instead of every secret value. */
export const SECRET = "[secret]";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ExportedResource {
  readonly urn: string;
  readonly type: string;
  /** The last part of the URN: the resource's Pulumi name. */
  readonly name: string;
  readonly parent?: string;
  /** When the resource was created and last changed (ISO), where the engine recorded it. */
  readonly created?: string;
  readonly modified?: string;
  readonly inputs: Readonly<Record<string, Json>>;
  readonly outputs: Readonly<Record<string, Json>>;
}

export interface StackState {
  /** The stack the export belongs to, from the root resource's URN. */
  readonly stack: string;
  /** The Pulumi CLI that wrote the state, and when (manifest). */
  readonly cliVersion?: string;
  readonly time?: string;
  /** Plugins the manifest lists (older CLIs); providers are resources too. */
  readonly plugins: readonly { readonly name: string; readonly kind: string; readonly version: string }[];
  readonly resources: readonly ExportedResource[];
}

export function isRecord(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An encrypted value of an export: `{ <SECRET_SIG>: "1b47…", ciphertext: "…" }`. */
export function isSecret(v: unknown): boolean {
  return isRecord(v) && SECRET_SIG in v;
}

/** `v` with every encrypted value replaced by "[secret]", for code that reads whole property bags. */
export function redactSecrets(v: Json): Json {
  if (isSecret(v)) return SECRET;
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x)]));
  return v;
}

/** A string field as it may be shown: the string, "[secret]" for an encrypted one, else undefined. */
export function text(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  return isSecret(v) ? SECRET : undefined;
}

const optionalString = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The typed view of a `pulumi stack export` document; throws when it is not one. Pure. */
export function readExport(doc: unknown): StackState {
  const deployment = isRecord(doc) ? doc.deployment : undefined;
  const resources = isRecord(deployment) ? deployment.resources : undefined;
  if (!isRecord(doc) || doc.version !== 3 || !Array.isArray(resources)) {
    throw new Error("not the output of `pulumi stack export` (a version 3 deployment with resources)");
  }
  const manifest = isRecord(deployment) && isRecord(deployment.manifest) ? deployment.manifest : {};
  const list: ExportedResource[] = resources.filter(isRecord).map((r) => {
    const urn = String(r.urn ?? "");
    return {
      urn,
      type: String(r.type ?? ""),
      name: urn.split("::").pop() ?? urn,
      ...(typeof r.parent === "string" ? { parent: r.parent } : {}),
      ...(typeof r.created === "string" ? { created: r.created } : {}),
      ...(typeof r.modified === "string" ? { modified: r.modified } : {}),
      inputs: isRecord(r.inputs) ? r.inputs : {},
      outputs: isRecord(r.outputs) ? r.outputs : {},
    };
  });
  const root = list.find((r) => r.type === "pulumi:pulumi:Stack");
  const plugins = Array.isArray(manifest.plugins) ? manifest.plugins.filter(isRecord) : [];
  return {
    // urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack>
    stack: /^urn:pulumi:([^:]+)::/.exec(root?.urn ?? "")?.[1] ?? "",
    ...(typeof manifest.version === "string" ? { cliVersion: manifest.version } : {}),
    ...(typeof manifest.time === "string" ? { time: manifest.time } : {}),
    plugins: plugins.map((p) => ({
      name: optionalString(p.name) ?? "",
      kind: optionalString(p.type) ?? optionalString(p.kind) ?? "",
      version: optionalString(p.version) ?? "",
    })),
    resources: list,
  };
}

/** The first resource of `type`. */
export function byType(state: StackState, type: string): ExportedResource | undefined {
  return state.resources.find((r) => r.type === type);
}

/** The child of `parent` named `name`. */
export function child(
  state: StackState,
  parent: ExportedResource | undefined,
  name: string,
): ExportedResource | undefined {
  return parent && state.resources.find((r) => r.parent === parent.urn && r.name === name);
}

type SqlValue = string | number | boolean | null;

/** The rows of `INSERT INTO <table> VALUES (...), (...);` as renderAccountsSql writes them. */
function sqlRows(sql: string, table: string): SqlValue[][] {
  const head = `INSERT INTO ${table} VALUES\n`;
  const start = sql.indexOf(head);
  if (start < 0) return [];
  let i = start + head.length;
  const fail = (): never => {
    throw new Error(`the accounts SQL has an unreadable ${table} row near: ${sql.slice(i, i + 40)}`);
  };
  const skip = () => {
    while (/\s/.test(sql[i] ?? "")) i++;
  };
  const literal = (): SqlValue => {
    if (sql[i] === "'") {
      let out = "";
      for (i++; i < sql.length; i++) {
        if (sql[i] !== "'") out += sql[i];
        else if (sql[i + 1] === "'") out += sql[i++];
        else {
          i++;
          return out;
        }
      }
      return fail();
    }
    const m = /^(NULL|true|false|-?\d+)/.exec(sql.slice(i, i + 24));
    if (!m?.[1]) return fail();
    i += m[1].length;
    return m[1] === "NULL" ? null : m[1] === "true" ? true : m[1] === "false" ? false : Number(m[1]);
  };
  const rows: SqlValue[][] = [];
  for (;;) {
    skip();
    if (sql[i++] !== "(") fail();
    const row: SqlValue[] = [];
    for (;;) {
      skip();
      row.push(literal());
      skip();
      const c = sql[i++];
      if (c === ")") break;
      if (c !== ",") fail();
    }
    rows.push(row);
    skip();
    const c = sql[i++];
    if (c === ";") return rows;
    if (c !== ",") fail();
  }
}

export interface AccountRows {
  readonly domains: readonly {
    readonly name: string;
    readonly authType: string;
    readonly ldapBaseDn: string | null;
    readonly active: boolean;
  }[];
  readonly users: readonly {
    readonly address: string;
    readonly quotaBytes: number;
    readonly enabled: boolean;
  }[];
  readonly aliases: readonly { readonly source: string; readonly destination: string }[];
  readonly sendAs: readonly { readonly address: string; readonly login: string }[];
}

/**
 * The domains, users, aliases and sending rights of the accounts sync
 * (renderAccountsSql); undefined when `sql` is not that script. It holds no
 * password hash: those go in a separate, secret script. Pure.
 */
export function parseAccountsSql(sql: string): AccountRows | undefined {
  if (!sql.includes("CREATE TEMP TABLE want_users ")) return undefined;
  const s = (v: SqlValue | undefined) => String(v ?? "");
  return {
    domains: sqlRows(sql, "want_domains").map(([name, authType, base, active]) => ({
      name: s(name),
      authType: s(authType),
      ldapBaseDn: typeof base === "string" ? base : null,
      active: active === true,
    })),
    users: sqlRows(sql, "want_users").map(([address, quota, enabled]) => ({
      address: s(address),
      quotaBytes: Number(quota ?? 0),
      enabled: enabled === true,
    })),
    aliases: sqlRows(sql, "want_aliases").map(([source, destination]) => ({
      source: s(source),
      destination: s(destination),
    })),
    sendAs: sqlRows(sql, "want_sender_logins").map(([address, login]) => ({
      address: s(address),
      login: s(login),
    })),
  };
}

export interface ZoneRecord {
  /** Owner name without the trailing dot. */
  readonly name: string;
  readonly ttl: number;
  readonly type: string;
  /** The RDATA as in the zone file (TXT: quoted strings). */
  readonly rdata: string;
  /** TXT: the strings joined and unquoted; otherwise the RDATA. */
  readonly value: string;
  readonly why: string;
}

/** The records of a zone fragment (zoneFragment): one per line, the comment last. Pure. */
export function parseZoneFragment(zone: string): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  for (const line of zone.split("\n")) {
    const m = /^(\S+)\.\s+(\d+)\s+IN\s+([A-Z]+)\s+(.*)$/.exec(line);
    if (!m?.[1] || !m[3] || m[4] === undefined) continue;
    // The reason never holds " ; "; a TXT value might.
    const cut = m[4].lastIndexOf(" ; ");
    const rdata = cut < 0 ? m[4] : m[4].slice(0, cut);
    out.push({
      name: m[1],
      ttl: Number(m[2]),
      type: m[3],
      rdata,
      value: m[3] === "TXT" ? txtText(rdata) : rdata,
      why: cut < 0 ? "" : m[4].slice(cut + 3),
    });
  }
  return out;
}

/** The export's resources as the policy rules take them: inputs as props, each encrypted value "[secret]". */
export function policyResources(state: StackState): PolicyResource[] {
  return state.resources.map((r) => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    props: Object.fromEntries(Object.entries(r.inputs).map(([k, v]) => [k, redactSecrets(v)])),
  }));
}
