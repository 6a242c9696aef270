// Who may do what in the mail database, as one piece of data. Managed mode
// turns it into @pulumi/postgresql resources; preprovisioned mode gives the
// DBA the role part as SQL (files/postgres/roles.sql, rendered here and kept
// in step by a test) and applies the table grants as the owner. Postfix and Dovecot get read-only lookup roles that see
// only the columns their queries read.

export interface TableGrant {
  readonly table: string;
  /** Columns the role may SELECT; the whole row when omitted. */
  readonly columns?: readonly string[];
}

export interface LookupRole {
  /** PostgreSQL role name. */
  readonly role: string;
  /** The OS user of the daemon; peer authentication maps it to the role, so no password exists. */
  readonly osUser: string;
  readonly select: readonly TableGrant[];
}

export interface DatabaseSpec {
  readonly database: string;
  /** Owns the database and every table in it; runs the migrations. */
  readonly owner: string;
  readonly lookupRoles: readonly LookupRole[];
}

export const DATABASE_SPEC: DatabaseSpec = {
  database: "mailserver",
  owner: "techmail",
  lookupRoles: [
    {
      role: "postfix_lookup",
      osUser: "postfix",
      select: [
        { table: "domains", columns: ["id", "domain_name", "transport", "is_active"] },
        // Postfix never sees password hashes.
        { table: "virtual_users", columns: ["id", "domain_id", "email", "enabled"] },
        { table: "virtual_aliases", columns: ["domain_id", "source", "destination", "enabled"] },
        { table: "sender_logins", columns: ["address", "login"] },
      ],
    },
    {
      role: "dovecot_lookup",
      osUser: "dovecot",
      select: [
        { table: "domains", columns: ["id", "domain_name", "auth_type", "ldap_base_dn", "is_active"] },
        {
          table: "virtual_users",
          columns: ["id", "domain_id", "email", "password_hash", "quota_bytes", "enabled"],
        },
      ],
    },
  ],
};

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** Throws unless every name in the spec is a plain lower-case SQL identifier. Pure. */
export function validateSpec(spec: DatabaseSpec): void {
  const names = [
    spec.database,
    spec.owner,
    ...spec.lookupRoles.flatMap((r) => [r.role, ...r.select.flatMap((g) => [g.table, ...(g.columns ?? [])])]),
  ];
  const bad = names.filter((n) => !IDENT.test(n));
  if (bad.length > 0) throw new Error(`database spec: not plain SQL identifiers: ${bad.join(", ")}`);
}

/** The pg_ident.conf map lines: OS user -> lookup role. Pure. */
export function identMapLines(spec: DatabaseSpec, map: string): string[] {
  return spec.lookupRoles.map((r) => `${map} ${r.osUser} ${r.role}`);
}

/**
 * The whole spec as idempotent SQL for psql, run by a superuser: what a DBA
 * runs in preprovisioned mode. Roles get no password (peer authentication);
 * the owner's password, if any, is the DBA's to set. Pure.
 */
export function renderRolesSql(spec: DatabaseSpec): string {
  validateSpec(spec);
  const role = (name: string, login: boolean) =>
    [
      `SELECT format('CREATE ROLE %I ${login ? "LOGIN" : "NOLOGIN"}', '${name}')`,
      `  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${name}') \\gexec`,
    ].join("\n");
  const out = [
    "-- Roles and grants of the mail database, generated from src/concerns/database/spec.ts.",
    "-- Run as a superuser: psql -v ON_ERROR_STOP=1 -f roles.sql. Safe to run again.",
    "",
    role(spec.owner, true),
    ...spec.lookupRoles.map((r) => role(r.role, true)),
    "",
    `SELECT 'CREATE DATABASE ${spec.database} OWNER ${spec.owner} ENCODING ''UTF8'' TEMPLATE template0'`,
    `  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '${spec.database}') \\gexec`,
    `ALTER DATABASE ${spec.database} OWNER TO ${spec.owner};`,
    `REVOKE ALL ON DATABASE ${spec.database} FROM PUBLIC;`,
    `GRANT CONNECT ON DATABASE ${spec.database} TO ${spec.lookupRoles.map((r) => r.role).join(", ")};`,
    "",
    `\\connect ${spec.database}`,
    "-- Nothing but the owner may create objects; future tables grant nothing by default.",
    "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
    `GRANT ALL ON SCHEMA public TO ${spec.owner};`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${spec.owner} IN SCHEMA public REVOKE ALL ON TABLES FROM PUBLIC;`,
  ];
  for (const r of spec.lookupRoles) out.push(`GRANT USAGE ON SCHEMA public TO ${r.role};`);
  return `${out.join("\n")}\n`;
}

/**
 * Table and column grants, run by the owner after each migration: it revokes
 * everything from the lookup roles and grants exactly the spec, in one
 * transaction, so a role never holds more than the spec says. Pure.
 */
export function renderTableGrantsSql(spec: DatabaseSpec): string {
  validateSpec(spec);
  const out = ["BEGIN;"];
  for (const r of spec.lookupRoles) {
    out.push(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${r.role};`);
    for (const g of r.select) {
      const cols = g.columns ? ` (${g.columns.join(", ")})` : "";
      out.push(`GRANT SELECT${cols} ON ${g.table} TO ${r.role};`);
    }
  }
  out.push("COMMIT;");
  return `${out.join("\n")}\n`;
}

/** One privilege a grantee holds, in the terms of files/postgres/privilege-matrix.sql. */
export interface PrivilegeRow {
  /** A role, or PUBLIC. */
  readonly grantee: string;
  readonly privilege: string;
  readonly kind: "database" | "schema" | "table" | "sequence" | "column" | "default";
  /** database and schema: the name; table and sequence: schema.name; column: schema.table.column. A * stands for any name. */
  readonly object: string;
}

/** Every privilege of each kind, as privilege-matrix.sql asks PostgreSQL about them. */
export const PRIVILEGES = {
  database: ["CREATE", "CONNECT", "TEMPORARY"],
  schema: ["CREATE", "USAGE"],
  table: ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"],
  sequence: ["USAGE", "SELECT", "UPDATE"],
  column: ["SELECT", "INSERT", "UPDATE", "REFERENCES"],
} as const;

/**
 * The privilege matrix the spec declares: every privilege each role holds,
 * once roles.sql (or managed mode) and the table grants have run, and
 * nothing else, for nobody else (PUBLIC included). The owner holds everything
 * on what it owns, which is every table the migrations make, so its tables,
 * sequences and columns are "*". mailstack-health compares it with the live
 * matrix. Pure.
 */
export function declaredPrivileges(spec: DatabaseSpec): PrivilegeRow[] {
  validateSpec(spec);
  const rows: PrivilegeRow[] = [];
  const add = (
    grantee: string,
    kind: PrivilegeRow["kind"],
    object: string,
    privileges: readonly string[],
  ) => {
    for (const privilege of privileges) rows.push({ grantee, privilege, kind, object });
  };
  add(spec.owner, "database", spec.database, PRIVILEGES.database);
  add(spec.owner, "schema", "public", PRIVILEGES.schema);
  add(spec.owner, "table", "*", PRIVILEGES.table);
  add(spec.owner, "sequence", "*", PRIVILEGES.sequence);
  add(spec.owner, "column", "*", PRIVILEGES.column);
  for (const r of spec.lookupRoles) {
    add(r.role, "database", spec.database, ["CONNECT"]);
    add(r.role, "schema", "public", ["USAGE"]);
    for (const g of r.select) {
      // SELECT on a whole table is SELECT on each of its columns too.
      if (g.columns === undefined) add(r.role, "table", `public.${g.table}`, ["SELECT"]);
      for (const c of g.columns ?? ["*"]) add(r.role, "column", `public.${g.table}.${c}`, ["SELECT"]);
    }
  }
  return rows;
}
