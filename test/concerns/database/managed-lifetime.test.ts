// Managed mode's PostgreSQL resources under mocks, as the engine receives them
// (issue 17): the engine may never delete the database, the roles or a grant,
// so leaving managed mode plans no DROP and no REVOKE; and the grants run one
// at a time, so no two change the same database, schema or table at once.
//
// What only the real provider and engine can confirm: that a retained resource
// really leaves the state without a call to the provider (test/core/lifetime.test.ts
// shows it with the pinned CLI and the command provider, not with
// pulumi-resource-postgresql), and that the chain below is enough to stop
// "tuple concurrently updated" in the provider's own goroutines.
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { databaseArgs } from "../../helpers/database-args";
import { dependsOn, flush, recordParents, registrations, resources, setup } from "../../helpers/mocks";

setup();
let pulumi: typeof pulumiType;

const POSTGRES = "postgresql:";
const GRANTS = ["postgresql:index/grant:Grant", "postgresql:index/defaultPrivileges:DefaultPrivileges"];

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { MailDatabase } = await import("../../../src/concerns/database/component");
  const common = {
    ...databaseArgs(pulumi, "debian12"),
    tunnel: async () => {},
  };
  const db = { port: 5432, tunnelPort: 15432, adminUser: "postgres" };
  // One stack before and after a dbMode switch: the same component, in each mode.
  new MailDatabase(
    "m",
    { ...common, config: { ...db, mode: "managed", adminPassword: pulumi.secret("pw") } },
    { transformations: [recordParents] },
  );
  new MailDatabase("p", { ...common, config: { ...db, mode: "preprovisioned" } });
  await flush();
});

/** The PostgreSQL resources of the component named `prefix`, by their name without it. */
function postgresResources(prefix: string): Map<string, string> {
  return new Map(
    [...resources.values()]
      .filter((r) => r.name.startsWith(`${prefix}-`) && r.type.startsWith(POSTGRES))
      .map((r) => [r.name.slice(prefix.length + 1), r.type]),
  );
}

describe("the mail database is never dropped", () => {
  it("every role, the database and every grant is retainOnDelete and deleted with its provider, and not protected", () => {
    const managed = postgresResources("m");
    expect([...managed.values()].filter((t) => t === "postgresql:index/role:Role")).toHaveLength(3);
    expect([...managed.values()]).toContain("postgresql:index/database:Database");
    const provider = registrations.get("m-provider");
    expect(provider?.type).toBe("pulumi:providers:postgresql");
    const options = [...managed.keys()].map((n) => {
      const r = registrations.get(`m-${n}`);
      return {
        n,
        retainOnDelete: r?.retainOnDelete,
        protect: r?.protect,
        withProvider: r?.deletedWith === r?.provider,
      };
    });
    expect(options.filter((o) => !o.retainOnDelete || o.protect || !o.withProvider)).toEqual([]);
  });

  it("an adopted database's unknowable template is no reason to replace it", () => {
    expect(registrations.get("m-database")?.ignoreChanges).toEqual(["template"]);
  });

  it("a switch to preprovisioned drops every PostgreSQL resource from the program, and each is retained: the engine plans no DROP and no REVOKE", () => {
    const managed = postgresResources("m");
    const after = postgresResources("p");
    // In preprovisioned mode nothing is @pulumi/postgresql's: the engine would
    // remove every one of them, so every one must be retained.
    expect(after.size).toBe(0);
    const removed = [...managed.keys()].filter((n) => !after.has(n));
    expect(removed.length).toBe(managed.size);
    const deleted = removed.filter((n) => registrations.get(`m-${n}`)?.retainOnDelete !== true);
    expect(deleted).toEqual([]);
    // And the switch's own checks and grants exist, to take over.
    expect(resources.has("p-roles-check")).toBe(true);
    expect(resources.has("p-grants")).toBe(true);
  });
});

/** The objects a grant or default privilege changes: its database, schema or tables. Pure. */
function objectsOf(type: string, inputs: Record<string, unknown>): string[] {
  const db = String(inputs.database);
  // Default privileges live in the schema's pg_default_acl: count them with the schema.
  if (type === "postgresql:index/defaultPrivileges:DefaultPrivileges")
    return [`schema ${db}.${String(inputs.schema)}`];
  switch (inputs.objectType) {
    case "database":
      return [`database ${db}`];
    case "schema":
      return [`schema ${db}.${String(inputs.schema)}`];
    case "table":
    case "column":
      return ((inputs.objects as string[] | undefined) ?? []).map(
        (t) => `table ${db}.${String(inputs.schema)}.${t}`,
      );
    default:
      throw new Error(`no object for objectType ${String(inputs.objectType)}`);
  }
}

/** Everything `name` waits for, directly or through others. */
function waitsFor(name: string, seen = new Set<string>()): Set<string> {
  for (const d of dependsOn.get(name) ?? []) {
    if (seen.has(d)) continue;
    seen.add(d);
    waitsFor(d, seen);
  }
  return seen;
}

describe("grants run in a fixed order", () => {
  it("every two grants or default privileges on one database, schema or table are ordered by dependsOn", () => {
    const grants = [...resources.values()].filter((r) => r.name.startsWith("m-") && GRANTS.includes(r.type));
    expect(grants.length).toBeGreaterThan(10);
    const byObject = new Map<string, string[]>();
    for (const g of grants) {
      for (const o of objectsOf(g.type, g.inputs)) byObject.set(o, [...(byObject.get(o) ?? []), g.name]);
    }
    // The spec has objects that several grants share: the database, the schema (PUBLIC, the owner,
    // the default privileges and each lookup role), domains, virtual_users.
    expect(byObject.get("database mailserver")?.length).toBe(3);
    expect(byObject.get("schema mailserver.public")?.length).toBe(5);
    expect(byObject.get("table mailserver.public.virtual_users")?.length).toBe(2);
    const unordered: string[] = [];
    for (const [object, names] of byObject) {
      for (const [i, a] of names.entries()) {
        for (const b of names.slice(i + 1)) {
          if (!waitsFor(a).has(b) && !waitsFor(b).has(a)) unordered.push(`${a} and ${b} on ${object}`);
        }
      }
    }
    expect(unordered).toEqual([]);
  });
});
