// The role/grant spec and the accounts SQL, applied with psql to a real
// PostgreSQL exactly as the stack and a DBA apply them: roles.sql as a
// superuser, the migrations through migrate.sh, the table grants as the
// owner, then the accounts sync. Proves least privilege and the removal rules,
// and that managed mode's @pulumi/postgresql resources, replayed on a second
// cluster as the provider runs them, give the same privilege matrix.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderAccountsSql, renderPasswordsSql } from "../../../src/concerns/database/accounts-sql";
import type { AccountsConfig, DomainConfig } from "../../../src/concerns/database/settings";
import { DATABASE_SPEC, renderRolesSql, renderTableGrantsSql } from "../../../src/concerns/database/spec";
import { ROOT } from "../../../src/core/template";
import { dependsOn, flush, recordParents, resources, setup } from "../../helpers/mocks";
import {
  migrateMailDatabase,
  privilegeMatrix,
  provisionMailDatabase,
  startPostgres,
  type TestPostgres,
} from "../../helpers/pg";
import { dependencyOrder, providerSql } from "../../helpers/postgresql-provider";

// Managed mode is declared under mocks (its resources recorded), so the
// component is imported only once they are set.
setup();

const spec = DATABASE_SPEC;
const DB = spec.database;
let pg: TestPostgres;
/** The privilege matrix right after provisioning, before any test adds a role or a grant. */
let preprovisionedMatrix: string[];

const HASH = "{BLF-CRYPT}$2b$05$abcdefghijklmnopqrstuu5s2v8.xm6iT0W1qL7PZbC3VYx0cN4uW";
const domains: DomainConfig[] = [
  { name: "example.test", authType: "local", active: true },
  { name: "corp.example.test", authType: "ldap", ldapBaseDn: "ou=people,dc=corp", active: true },
  { name: "old.example.test", authType: "local", active: false },
];
const accounts: Omit<AccountsConfig, "passwordHashes"> = {
  users: [
    { address: "alice@example.test", quotaBytes: 2 ** 30, enabled: true, sendAs: ["sales@example.test"] },
    { address: "bob@example.test", quotaBytes: 0, enabled: true, sendAs: [] },
    { address: "carol@corp.example.test", quotaBytes: 0, enabled: true, sendAs: [] },
  ],
  aliases: [
    { source: "sales@example.test", destination: "alice@example.test" },
    { source: "@old.example.test", destination: "bob@example.test" },
  ],
  removed: "disable",
};

/** psql as a superuser (trust auth in the throwaway cluster), failing on the first error. */
function asSuperuser(sql: string, database = "postgres"): string {
  return pg.query(sql, { database });
}

function as(role: string, sql: string) {
  return pg.psql(sql, { role, database: DB });
}

beforeAll(() => {
  pg = startPostgres();
  provisionMailDatabase(pg, spec);
  asSuperuser(`SET ROLE ${spec.owner};\n${renderTableGrantsSql(spec)}`, DB);
  asSuperuser(renderAccountsSql(spec, domains, accounts), DB);
  asSuperuser(renderPasswordsSql(spec, accounts.users, { "alice@example.test": HASH }), DB);
  preprovisionedMatrix = privilegeMatrix(pg, DB);
}, 120_000);
afterAll(() => pg?.stop(), 60_000);

describe("roles.sql", () => {
  it("is what the spec renders (regenerate it from src/concerns/database/spec.ts after a change)", () => {
    expect(fs.readFileSync(path.join(ROOT, "files/postgres/roles.sql"), "utf8")).toBe(renderRolesSql(spec));
  });

  it("is safe to run twice", () => {
    expect(() => asSuperuser(renderRolesSql(spec))).not.toThrow();
  });

  it("makes the owner own the database and every table", () => {
    expect(asSuperuser(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${DB}'`)).toBe(
      spec.owner,
    );
    const owners = asSuperuser("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", DB);
    expect(owners).toBe(spec.owner);
  });
});

describe("lookup roles are least privilege", () => {
  it("postfix_lookup reads addresses but never password hashes", () => {
    expect(as("postfix_lookup", "SELECT email FROM virtual_users ORDER BY email LIMIT 1").out.trim()).toBe(
      "alice@example.test",
    );
    const hash = as("postfix_lookup", "SELECT password_hash FROM virtual_users");
    expect(hash.code).not.toBe(0);
    expect(hash.err).toContain("permission denied");
  });

  it("dovecot_lookup reads password hashes but not aliases", () => {
    expect(
      as(
        "dovecot_lookup",
        "SELECT password_hash FROM virtual_users WHERE email = 'alice@example.test'",
      ).out.trim(),
    ).toBe(HASH);
    expect(as("dovecot_lookup", "SELECT * FROM virtual_aliases").err).toContain("permission denied");
  });

  it.each([
    ["postfix_lookup", "INSERT INTO domains (domain_name) VALUES ('x.test')"],
    ["postfix_lookup", "UPDATE virtual_users SET enabled = false"],
    ["postfix_lookup", "DELETE FROM virtual_aliases"],
    ["dovecot_lookup", "UPDATE virtual_users SET password_hash = NULL"],
    ["dovecot_lookup", "CREATE TABLE t (x int)"],
    ["dovecot_lookup", "TRUNCATE domains"],
  ])("%s cannot write: %s", (role, sql) => {
    const r = as(role, sql);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("permission denied");
  });

  it("a role outside the spec cannot connect to the mail database", () => {
    asSuperuser("CREATE ROLE stranger LOGIN");
    const r = pg.psql("SELECT 1", { role: "stranger", database: DB });
    expect(r.err).toContain("permission denied for database");
  });

  it("table grants are exact: a grant outside the spec disappears on the next run", () => {
    asSuperuser("GRANT SELECT ON virtual_users TO postfix_lookup", DB);
    expect(as("postfix_lookup", "SELECT count(password_hash) FROM virtual_users").code).toBe(0);
    asSuperuser(`SET ROLE ${spec.owner};\n${renderTableGrantsSql(spec)}`, DB);
    expect(as("postfix_lookup", "SELECT count(password_hash) FROM virtual_users").code).not.toBe(0);
  });
});

describe("accounts sync", () => {
  const rows = (sql: string) => asSuperuser(sql, DB).split("\n").filter(Boolean);

  it("stores what config says", () => {
    expect(rows("SELECT email, quota_bytes, enabled FROM virtual_users ORDER BY email")).toEqual([
      "alice@example.test|1073741824|t",
      "bob@example.test|0|t",
      "carol@corp.example.test|0|t",
    ]);
    expect(rows("SELECT domain_name, auth_type, is_active FROM domains ORDER BY domain_name")).toEqual([
      "corp.example.test|ldap|t",
      "example.test|local|t",
      "old.example.test|local|f",
    ]);
    expect(rows("SELECT address, login FROM sender_logins")).toEqual([
      "sales@example.test|alice@example.test",
    ]);
    expect(rows("SELECT email FROM virtual_users WHERE password_hash IS NOT NULL")).toEqual([
      "alice@example.test",
    ]);
  });

  it("changes nothing when run again", () => {
    const before = rows("SELECT email, updated_at FROM virtual_users ORDER BY email");
    asSuperuser(renderAccountsSql(spec, domains, accounts), DB);
    asSuperuser(renderPasswordsSql(spec, accounts.users, { "alice@example.test": HASH }), DB);
    expect(rows("SELECT email, updated_at FROM virtual_users ORDER BY email")).toEqual(before);
  });

  it("disables a removed user and alias by default, keeping the rows", () => {
    const fewer = { ...accounts, users: accounts.users.slice(0, 2), aliases: accounts.aliases.slice(0, 1) };
    asSuperuser(renderAccountsSql(spec, domains, fewer), DB);
    expect(rows("SELECT email, enabled FROM virtual_users WHERE email LIKE 'carol@%'")).toEqual([
      "carol@corp.example.test|f",
    ]);
    expect(rows("SELECT source, enabled FROM virtual_aliases WHERE source = '@old.example.test'")).toEqual([
      "@old.example.test|f",
    ]);
    // Back in config, back in service.
    asSuperuser(renderAccountsSql(spec, domains, accounts), DB);
    expect(rows("SELECT count(*) FROM virtual_users WHERE enabled")).toEqual(["3"]);
    expect(rows("SELECT count(*) FROM virtual_aliases WHERE enabled")).toEqual(["2"]);
  });

  it("deletes removed rows only when config says delete, and revokes their sending rights", () => {
    const gone = { ...accounts, users: accounts.users.slice(1), removed: "delete" as const };
    asSuperuser(renderAccountsSql(spec, domains, gone), DB);
    expect(rows("SELECT count(*) FROM virtual_users WHERE email = 'alice@example.test'")).toEqual(["0"]);
    expect(rows("SELECT count(*) FROM sender_logins")).toEqual(["0"]);
    asSuperuser(renderAccountsSql(spec, domains, accounts), DB);
    expect(rows("SELECT address, login FROM sender_logins")).toEqual([
      "sales@example.test|alice@example.test",
    ]);
  });

  it("deactivates a domain removed from config", () => {
    asSuperuser(
      renderAccountsSql(spec, domains.slice(0, 2), { ...accounts, aliases: accounts.aliases.slice(0, 1) }),
      DB,
    );
    expect(rows("SELECT is_active FROM domains WHERE domain_name = 'old.example.test'")).toEqual(["f"]);
  });

  it("quotes values, so a quote in a DN cannot break out of its string", () => {
    const tricky: DomainConfig[] = [
      ...domains,
      { name: "q.example.test", authType: "ldap", ldapBaseDn: "ou=o'brien,dc=q", active: true },
    ];
    asSuperuser(renderAccountsSql(spec, tricky, accounts), DB);
    expect(rows("SELECT ldap_base_dn FROM domains WHERE domain_name = 'q.example.test'")).toEqual([
      "ou=o'brien,dc=q",
    ]);
  });
});

describe("the same privileges in both modes", () => {
  /** Declares managed mode on the mail host's own PostgreSQL and records its resources. */
  async function declareManaged(): Promise<void> {
    const pulumi = await import("@pulumi/pulumi");
    const { MailDatabase } = await import("../../../src/concerns/database/component");
    new MailDatabase(
      "managed",
      {
        connection: { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
        os: "debian12",
        domains,
        accounts: { ...accounts, passwordHashes: pulumi.secret<Record<string, string>>({}) },
        tunnel: async () => {},
        config: {
          mode: "managed",
          port: 5432,
          tunnelPort: 15432,
          adminUser: "postgres",
          adminPassword: pulumi.secret("pw"),
        },
      },
      { transformations: [recordParents] },
    );
    await flush();
  }

  it("managed mode's roles, database and grants, run as the provider runs them, give roles.sql's matrix", async () => {
    await declareManaged();
    const managed = startPostgres();
    try {
      // Every @pulumi/postgresql resource, and the migrations between them,
      // in the order the engine may run them.
      const names = [...resources.values()]
        .filter((r) => r.name.startsWith("managed-") && (providerSql(r) || r.name === "managed-migrations"))
        .map((r) => r.name);
      const order = dependencyOrder(names, dependsOn);
      expect(order).toContain("managed-migrations");
      for (const name of order) {
        const r = resources.get(name);
        const run = r && providerSql(r);
        if (run) managed.query(run.sql, { database: run.database });
        else migrateMailDatabase(managed, spec);
      }
      const matrix = privilegeMatrix(managed, DB);
      // The matrix is whole: every spec role and PUBLIC, every column.
      for (const role of [spec.owner, ...spec.lookupRoles.map((r) => r.role), "PUBLIC"]) {
        expect(matrix.filter((l) => l.startsWith(`${role} `)).length, role).toBeGreaterThan(100);
      }
      expect(matrix).toContain("postfix_lookup SELECT column public.virtual_users.password_hash f");
      expect(matrix).toContain("dovecot_lookup SELECT column public.virtual_users.password_hash t");
      // What PostgreSQL 15 gives PUBLIC unless revoked (issue 17, item 5).
      expect(matrix).toContain("PUBLIC USAGE schema public f");
      // The rows that differ first, so a failure names them; then the whole.
      const missingFrom = (a: string[], b: string[]) => a.filter((l) => !b.includes(l));
      expect({
        managedOnly: missingFrom(matrix, preprovisionedMatrix),
        preprovisionedOnly: missingFrom(preprovisionedMatrix, matrix),
      }).toEqual({ managedOnly: [], preprovisionedOnly: [] });
      expect(matrix).toEqual(preprovisionedMatrix);
    } finally {
      managed.stop();
    }
  }, 120_000);
});
