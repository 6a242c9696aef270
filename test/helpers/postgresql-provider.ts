// What @pulumi/postgresql runs against PostgreSQL when it creates the
// resources a program declares, as SQL for psql. The provider cannot be built
// here; this follows its upstream source (cyrilgdn/terraform-provider-postgresql,
// resource_postgresql_{role,database,grant,default_privileges}.go), which
// the Pulumi provider wraps: a Grant revokes what the role holds on the object
// and grants its privileges in one transaction, granting nothing when the
// list is empty; identifiers are double-quoted, so role "public" is PUBLIC.
// An input this model does not know is an error, so a resource that starts to
// use one cannot be replayed as something else. Only the real provider can
// confirm the model (README, "Database privileges").
import type { Recorded } from "./mocks";

const q = (name: unknown): string => {
  if (typeof name !== "string" || name === "")
    throw new Error(`provider model: bad identifier ${String(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
};

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function only(r: Recorded, known: readonly string[]): void {
  const unknown = Object.keys(r.inputs).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`provider model: ${r.name} (${r.type}) has ${unknown.join(", ")}`);
}

/** One statement pair in a transaction, as the provider's Grant and DefaultPrivileges run them. */
const txn = (revoke: string, grant: string | undefined) =>
  ["BEGIN;", `${revoke};`, ...(grant ? [`${grant};`] : []), "COMMIT;"].join("\n");

function grantSql(r: Recorded): string {
  only(r, ["database", "role", "schema", "objectType", "objects", "columns", "privileges"]);
  const { database, role, schema, objectType } = r.inputs;
  const privileges = list(r.inputs.privileges);
  const objects = list(r.inputs.objects);
  const columns = list(r.inputs.columns);
  const grant = (on: string) =>
    privileges.length > 0 ? `GRANT ${privileges.join(",")} ON ${on} TO ${q(role)}` : undefined;
  const tables = () => objects.map((o) => `${q(schema)}.${q(o)}`).join(",");
  switch (objectType) {
    case "database":
      return txn(
        `REVOKE ALL PRIVILEGES ON DATABASE ${q(database)} FROM ${q(role)}`,
        grant(`DATABASE ${q(database)}`),
      );
    case "schema":
      return txn(
        `REVOKE ALL PRIVILEGES ON SCHEMA ${q(schema)} FROM ${q(role)}`,
        grant(`SCHEMA ${q(schema)}`),
      );
    case "table":
      if (objects.length === 0) {
        return txn(
          `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA ${q(schema)} FROM ${q(role)}`,
          grant(`ALL TABLES IN SCHEMA ${q(schema)}`),
        );
      }
      return txn(
        `REVOKE ${privileges.length > 0 ? privileges.join(",") : "ALL PRIVILEGES"} ON TABLE ${tables()} FROM ${q(role)}`,
        grant(`TABLE ${tables()}`),
      );
    case "column": {
      if (privileges.length !== 1 || objects.length !== 1 || columns.length === 0) {
        throw new Error(`provider model: ${r.name}: a column grant takes 1 privilege, 1 table and columns`);
      }
      const cols = columns.map(q).join(",");
      return txn(
        `REVOKE ${privileges[0]} (${cols}) ON TABLE ${tables()} FROM ${q(role)}`,
        `GRANT ${privileges[0]} (${cols}) ON TABLE ${tables()} TO ${q(role)}`,
      );
    }
    default:
      throw new Error(`provider model: ${r.name}: objectType ${String(objectType)} is not modelled`);
  }
}

function defaultPrivilegesSql(r: Recorded): string {
  only(r, ["database", "owner", "role", "schema", "objectType", "privileges"]);
  const { owner, role, schema, objectType } = r.inputs;
  const privileges = list(r.inputs.privileges);
  const scope = `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(owner)}${schema ? ` IN SCHEMA ${q(schema)}` : ""}`;
  const on = `${String(objectType).toUpperCase()}S`;
  return txn(
    `${scope} REVOKE ALL ON ${on} FROM ${q(role)}`,
    privileges.length > 0 ? `${scope} GRANT ${privileges.join(",")} ON ${on} TO ${q(role)}` : undefined,
  );
}

/**
 * The SQL the provider runs to create `r`, and the database it connects to
 * for it; undefined for a resource of another provider.
 */
export function providerSql(r: Recorded): { database: string; sql: string } | undefined {
  switch (r.type) {
    case "postgresql:index/role:Role":
      only(r, ["name", "login", "password"]);
      // The password is the provider's to set; the test cluster trusts its socket.
      return {
        database: "postgres",
        sql: `CREATE ROLE ${q(r.inputs.name)} ${r.inputs.login ? "LOGIN" : "NOLOGIN"};`,
      };
    case "postgresql:index/database:Database": {
      only(r, ["name", "owner", "encoding", "template"]);
      const { name, owner, encoding, template } = r.inputs;
      return {
        database: "postgres",
        sql: `CREATE DATABASE ${q(name)} OWNER ${q(owner)} TEMPLATE ${q(template ?? "template0")} ENCODING '${String(encoding ?? "UTF8")}';`,
      };
    }
    case "postgresql:index/grant:Grant":
      return { database: String(r.inputs.database), sql: grantSql(r) };
    case "postgresql:index/defaultPrivileges:DefaultPrivileges":
      return { database: String(r.inputs.database), sql: defaultPrivilegesSql(r) };
    default:
      if (r.type.startsWith("postgresql:")) throw new Error(`provider model: ${r.type} is not modelled`);
      return undefined;
  }
}

/**
 * The names in `names`, each after every one it depends on, directly or
 * through resources outside `names` (`dependsOn`: name -> its dependsOn).
 */
export function dependencyOrder(
  names: readonly string[],
  dependsOn: ReadonlyMap<string, readonly string[]>,
): string[] {
  const wanted = new Set(names);
  const done = new Set<string>();
  const out: string[] = [];
  const visit = (n: string, path: readonly string[]) => {
    if (done.has(n)) return;
    if (path.includes(n)) throw new Error(`dependency cycle: ${[...path, n].join(" -> ")}`);
    for (const d of dependsOn.get(n) ?? []) visit(d, [...path, n]);
    done.add(n);
    if (wanted.has(n)) out.push(n);
  };
  for (const n of [...names].sort()) visit(n, []);
  return out;
}
