// Adoption against a real PostgreSQL (issue 17, item 4): a throwaway cluster
// provisioned as a DBA does it (roles.sql, then the migrations), and the IDs
// `npm run db-adopt` prints for the prod stack must name exactly the roles and
// the database that exist there, with the attributes the stack declares (so
// the `up` after the import only updates them). What the provider's own read
// makes of them only the real provider can show.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adoptionFor, projectName } from "../../../scripts/db-adopt";
import { DATABASE_SPEC } from "../../../src/concerns/database/spec";
import { provisionMailDatabase, startPostgres, type TestPostgres } from "../../helpers/pg";

let pg: TestPostgres;
/** The imports printed for a managed-mode stack: type and ID. */
let imports: { type: string; id: string }[];

beforeAll(() => {
  pg = startPostgres();
  provisionMailDatabase(pg);
  const config = { "mailstack:host": { value: "mail.tlabs.team", secret: false } };
  const printed = adoptionFor("prod", config, projectName());
  imports = (
    JSON.parse(/<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(printed)?.[1] ?? "{}") as { resources: typeof imports }
  ).resources;
}, 120_000);

afterAll(() => pg?.stop(), 60_000);

const ids = (type: string) => imports.filter((i) => i.type === type).map((i) => i.id);

describe("the printed import IDs on a database that roles.sql made", () => {
  it("name every role roles.sql made, and only those, each one able to log in", () => {
    const made = pg
      .query(
        "SELECT rolname || ' ' || rolcanlogin FROM pg_roles WHERE rolname !~ '^pg_' AND NOT rolsuper ORDER BY 1",
        {
          database: "postgres",
        },
      )
      .split("\n");
    expect(made).toEqual(
      ids("postgresql:index/role:Role")
        .map((r) => `${r} true`)
        .sort(),
    );
  });

  it("name the mail database, owned by the owner role, in UTF8", () => {
    const [database] = ids("postgresql:index/database:Database");
    expect(database).toBe(DATABASE_SPEC.database);
    expect(
      pg.query(
        `SELECT pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = '${database}'`,
        { database: "postgres" },
      ),
    ).toBe(`${DATABASE_SPEC.owner} UTF8`);
  });
});
