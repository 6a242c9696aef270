// The migration runner (files/postgres/migrate.sh) and the schema, against a
// real throwaway PostgreSQL (test/helpers/pg.ts). The runner's production command is
// used unchanged (runuser -u postgres -- psql); only PGHOST points it at the
// throwaway cluster's socket. Each test gets a fresh database owned by the
// owner role.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  loadMigrations,
  MIGRATIONS_DIR,
  type Migration,
  migrationChecksum,
  renderMigrationPayload,
} from "../../../src/concerns/database/migrations";
import { ROOT } from "../../../src/core/template";
import { startPostgres, type TestPostgres } from "../../helpers/pg";

const SCRIPT = fs.readFileSync(path.join(ROOT, "files/postgres/migrate.sh"), "utf8");
const SCHEMA = fs.readFileSync(path.join(MIGRATIONS_DIR, "0001_mail_schema.sql"), "utf8");
const OWNER = "techmail";

let pg: TestPostgres;
let dbCount = 0;
const scratch: string[] = [];

beforeAll(() => {
  if (process.getuid?.() !== 0)
    throw new Error("the migration tests must run as root (they run psql as the postgres OS user)");
  pg = startPostgres();
  pg.query(`CREATE ROLE ${OWNER} LOGIN`);
}, 60_000);
afterAll(() => pg?.stop(), 60_000);
afterEach(() => {
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh database owned by the owner role, as the mail stack creates it. */
function freshDb(): string {
  const db = `mig_${++dbCount}`;
  pg.query(`CREATE DATABASE ${db} OWNER ${OWNER}`);
  return db;
}

/** Writes `files` into a fresh migrations dir and loads it. */
function dir(files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "migrations-"));
  scratch.push(d);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
  return d;
}
const load = (files: Record<string, string>) => loadMigrations(dir(files));

function runPayload(payload: string) {
  const r = spawnSync("bash", ["-c", SCRIPT, "mailstack-migrate"], {
    input: payload,
    encoding: "utf8",
    // The host's shell library, from the checkout rather than /usr/local/lib.
    env: { ...process.env, PGHOST: pg.socketDir, MAILSTACK_LIB: path.join(ROOT, "files/lib/mailstack.sh") },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const migrate = (db: string, migrations: Migration[]) =>
  runPayload(renderMigrationPayload(db, OWNER, migrations));

const q = (db: string, sql: string, role = "postgres") => pg.query(sql, { database: db, role });
const exists = (db: string, table: string) => q(db, `SELECT to_regclass('${table}') IS NOT NULL`) === "t";
const appliedRows = (db: string) =>
  q(db, "SELECT name, checksum, applied_at FROM schema_migrations ORDER BY name");
const appliedNames = (db: string) => q(db, "SELECT name FROM schema_migrations ORDER BY name").split("\n");
const schemaDump = (db: string) => {
  const r = spawnSync(`${pg.bin}/pg_dump`, ["-h", pg.socketDir, "-U", "postgres", "--schema-only", db], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  // pg_dump 15.14+ brackets its output with a random \restrict key.
  return r.stdout.replace(/^\\(un)?restrict .*$/gm, "");
};

describe("migrate.sh against PostgreSQL", () => {
  it("applies the project's migrations from scratch, owned by the owner role, and a second run changes nothing", () => {
    const db = freshDb();
    const all = loadMigrations();
    const first = migrate(db, all);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toBe(`migrations: applied ${all.map((m) => m.name).join(" ")}\n`);
    expect(q(db, "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).toBe(
      [
        "domains|techmail",
        "schema_migrations|techmail",
        "sender_logins|techmail",
        "virtual_aliases|techmail",
        "virtual_users|techmail",
      ].join("\n"),
    );
    expect(q(db, "SELECT name, checksum FROM schema_migrations ORDER BY name").split("\n")[0]).toBe(
      `0001_mail_schema|${migrationChecksum(SCHEMA)}`,
    );
    expect(q(db, "SELECT count(*) FROM schema_migrations")).toBe(String(all.length));

    const [rows, dump] = [appliedRows(db), schemaDump(db)];
    const second = migrate(db, loadMigrations());
    expect(second).toEqual({ code: 0, out: `migrations: up to date (${all.length} applied)\n`, err: "" });
    expect(appliedRows(db)).toBe(rows);
    expect(schemaDump(db)).toBe(dump);
  });

  it("refuses an applied migration whose text was edited, before anything runs", () => {
    const db = freshDb();
    const a = "CREATE TABLE a (id int);\n";
    expect(migrate(db, load({ "0001_mail_schema.sql": SCHEMA, "0002_a.sql": a })).code).toBe(0);
    const rows = appliedRows(db);

    const r = migrate(
      db,
      load({
        "0001_mail_schema.sql": SCHEMA,
        "0002_a.sql": `${a}CREATE TABLE a2 (id int);\n`,
        "0003_b.sql": "CREATE TABLE b (id int);\n",
      }),
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(
      new RegExp(
        `migrations: migration 0002_a was edited after it was applied \\(checksum ${migrationChecksum(a)}, ` +
          "applied \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\); add a new migration instead\\nnothing was applied",
      ),
    );
    expect([exists(db, "a2"), exists(db, "b")]).toEqual([false, false]);
    expect(appliedRows(db)).toBe(rows);
  });

  it("refuses a database that holds a migration this deployment does not have", () => {
    const db = freshDb();
    expect(migrate(db, load({ "0001_mail_schema.sql": SCHEMA, "0002_a.sql": "SELECT 1;\n" })).code).toBe(0);
    const r = migrate(db, loadMigrations());
    expect(r.code).toBe(1);
    expect(r.err).toContain("migration 0002_a is applied in database");
  });

  it("rolls a failing migration back completely, with psql's message, then applies the fixed one", () => {
    const db = freshDb();
    const bad = load({
      "0001_mail_schema.sql": SCHEMA,
      "0002_x.sql": "CREATE TABLE x (id int);\nINSERT INTO x VALUES (1);\nSELECT 1/0;\n",
    });
    const r = migrate(db, bad);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain("ERROR:  division by zero");
    expect(r.err).toContain(
      "migrations: migration 0002_x failed and was rolled back (applied before it: 0001_mail_schema)",
    );
    expect(exists(db, "x")).toBe(false);
    expect(exists(db, "domains")).toBe(true); // 0001 committed on its own
    expect(appliedNames(db)).toEqual(["0001_mail_schema"]);

    // The bad one was never recorded, so it may still be fixed in place.
    const fixed = load({
      "0001_mail_schema.sql": SCHEMA,
      "0002_x.sql": "CREATE TABLE x (id int);\nINSERT INTO x VALUES (1);\n",
      "0003_y.sql": "ALTER TABLE x ADD COLUMN note text;\n",
    });
    const ok = migrate(db, fixed);
    expect(ok).toEqual({ code: 0, out: "migrations: applied 0002_x 0003_y\n", err: "" });
    expect(
      q(db, "SELECT id, note IS NULL, pg_get_userbyid(relowner) FROM x, pg_class WHERE relname = 'x'"),
    ).toBe("1|t|techmail");
    expect(appliedNames(db)).toEqual(["0001_mail_schema", "0002_x", "0003_y"]);
    expect(migrate(db, fixed).out).toBe("migrations: up to date (3 applied)\n");
  });

  it("keeps an INSERT out of reach of a migration that ends inside a comment", () => {
    const db = freshDb();
    const r = migrate(db, load({ "0001_t.sql": "CREATE TABLE t (id int);\n/* unterminated\n" }));
    // psql sends the file's unfinished tail on its own and the server rejects
    // it; had the INSERT been appended to the same text, the comment would
    // have swallowed it and the migration would have applied unrecorded.
    expect(r.code).toBe(1);
    expect(r.err).toContain("unterminated /* comment");
    expect(exists(db, "t")).toBe(false);
    expect(q(db, "SELECT count(*) FROM schema_migrations")).toBe("0");
  });

  it("rejects a payload whose text does not match its checksum, or that is cut short", () => {
    const db = freshDb();
    const good = renderMigrationPayload(db, OWNER, loadMigrations());
    const mangled = good.replace("CREATE TABLE domains", "CREATE TABLE domainz");
    const r = runPayload(mangled);
    expect(r.code).toBe(1);
    expect(r.err).toContain("migration 0001_mail_schema: text does not match its checksum");
    const cut = runPayload(good.slice(0, good.lastIndexOf("end\n")));
    expect(cut.code).toBe(1);
    expect(cut.err).toContain("payload ends without its end line");
    expect(exists(db, "domains")).toBe(false);
    expect(exists(db, "schema_migrations")).toBe(false);
  });
});

describe("the mail schema's constraints", () => {
  const TLABS = "(SELECT id FROM domains WHERE domain_name = 'tlabs.team')";
  let db: string;
  beforeAll(() => {
    db = freshDb();
    const r = migrate(db, loadMigrations());
    if (r.code !== 0) throw new Error(r.err);
    q(
      db,
      `INSERT INTO domains (domain_name) VALUES ('tlabs.team');
       INSERT INTO virtual_users (domain_id, email, password_hash)
         VALUES (${TLABS}, 'ok@tlabs.team', '{ARGON2ID}$argon2id$x');`,
      OWNER,
    );
  });
  const attempt = (sql: string) => pg.psql(sql, { database: db, role: OWNER });

  it("accepts well-formed rows (so the rejections below are the constraints')", () => {
    const r = attempt(`
      INSERT INTO domains (domain_name, auth_type, ldap_base_dn) VALUES ('ldap.test', 'ldap', 'ou=people,dc=ldap,dc=test');
      INSERT INTO virtual_users (domain_id, email, password_hash) VALUES (${TLABS}, 'b@tlabs.team', '{BLF-CRYPT}$2y$05$x');
      INSERT INTO virtual_aliases (domain_id, source, destination) VALUES (${TLABS}, '@tlabs.team', 'ok@tlabs.team');
      INSERT INTO sender_logins (address, login) VALUES ('@tlabs.team', 'ok@tlabs.team');`);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  it("rejects an upper-case email", () => {
    const r = attempt(`INSERT INTO virtual_users (domain_id, email) VALUES (${TLABS}, 'Bob@tlabs.team')`);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('violates check constraint "virtual_users_email_check"');
  });

  it("rejects a password hash without an allowed scheme prefix", () => {
    const r = attempt(
      `INSERT INTO virtual_users (domain_id, email, password_hash) VALUES (${TLABS}, 'c@tlabs.team', '{MD5}x')`,
    );
    expect(r.err).toContain('violates check constraint "virtual_users_password_hash_check"');
  });

  it("rejects an LDAP domain without a base DN", () => {
    const r = attempt("INSERT INTO domains (domain_name, auth_type) VALUES ('nobase.test', 'ldap')");
    expect(r.err).toContain('violates check constraint "domains_ldap_base"');
  });

  it("enforces the foreign key from virtual_users to domains", () => {
    const r = attempt("INSERT INTO virtual_users (domain_id, email) VALUES (999, 'd@nowhere.test')");
    expect(r.err).toContain('violates foreign key constraint "virtual_users_domain_id_fkey"');
    const del = attempt("DELETE FROM domains WHERE domain_name = 'tlabs.team'");
    expect(del.err).toContain('violates foreign key constraint "virtual_users_domain_id_fkey"');
  });
});

describe("loadMigrations and the payload", () => {
  it("loads the project's migrations in order with their checksums", () => {
    const ms = loadMigrations();
    expect(ms[0]).toEqual({ name: "0001_mail_schema", sql: SCHEMA, checksum: migrationChecksum(SCHEMA) });
    expect(ms.map((m) => m.name)).toEqual([...ms.map((m) => m.name)].sort());
  });

  it("names a gap, a duplicate number, a bad name and a missing final newline", () => {
    expect(() => load({ "0001_a.sql": "x;\n", "0003_c.sql": "x;\n" })).toThrow(
      "migration number 0002 is missing",
    );
    expect(() => load({ "0001_a.sql": "x;\n", "0001_b.sql": "x;\n" })).toThrow(
      "migration number 0001 is used by 0001_a.sql and 0001_b.sql",
    );
    for (const bad of ["1_a.sql", "0001-a.sql", "0001_Schema.sql", "0001_a.txt", "0001_a b.sql"]) {
      expect(() => load({ [bad]: "x;\n" })).toThrow(`"${bad}" is not named NNNN_name.sql`);
    }
    expect(() => load({ "0001_a.sql": "x;" })).toThrow("0001_a.sql must end with a newline");
    expect(() => load({ "0002_b.sql": "x;\n" })).toThrow("migration number 0001 is missing");
  });

  it("refuses names that cannot go into SQL unquoted", () => {
    expect(() => renderMigrationPayload("mail-server", OWNER, [])).toThrow("is not a plain identifier");
    expect(() => renderMigrationPayload("mailserver", "x'; DROP", [])).toThrow("is not a plain identifier");
  });

  it("renders each migration with its checksum and line count", () => {
    const payload = renderMigrationPayload(
      "mailserver",
      "techmail",
      load({ "0001_one.sql": "CREATE TABLE one (id int);\n", "0002_two.sql": "-- two\n\nSELECT 2;\n" }),
    );
    expect(payload).toMatchInlineSnapshot(`
      "database mailserver
      owner techmail
      migration 0001_one b8f928ff41da98938f5d9452516c35f7f5b24ed8bf74448cb6252d614e0c90f9 1
      CREATE TABLE one (id int);
      migration 0002_two 8a983cb7ac3e6a65d3e95713e3f820582fffcdd478097cbeb49642d77a01894d 3
      -- two

      SELECT 2;
      end
      "
    `);
  });

  it("frames the real schema with sha256sum's checksum and wc -l's line count", () => {
    const file = path.join(MIGRATIONS_DIR, "0001_mail_schema.sql");
    const sum = spawnSync("sha256sum", [file], { encoding: "utf8" }).stdout.split(" ")[0];
    const lines = spawnSync("wc", ["-l", file], { encoding: "utf8" }).stdout.split(" ")[0];
    const payload = renderMigrationPayload("mailserver", "techmail", loadMigrations());
    expect(payload.split("\n").slice(0, 3)).toEqual([
      "database mailserver",
      "owner techmail",
      `migration 0001_mail_schema ${sum} ${lines}`,
    ]);
    expect(payload).toContain(`\n${SCHEMA}migration 0002_`);
    expect(payload.endsWith("end\n")).toBe(true);
  });
});
