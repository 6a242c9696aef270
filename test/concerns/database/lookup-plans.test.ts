// The queries Postfix and Dovecot really run, taken from the rendered lookup
// files, EXPLAINed on a real PostgreSQL holding 100 000 users in 10 000
// domains: every one must use an index. bench/explain.sh prints the timings.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderDovecotSql, renderPostfixMaps } from "../../../src/concerns/database/lookups";
import { DATABASE_SPEC } from "../../../src/concerns/database/spec";
import { ROOT } from "../../../src/core/template";
import { provisionMailDatabase, startPostgres, type TestPostgres } from "../../helpers/pg";
import { postfixQuery, mapSetting as setting } from "../../helpers/pgsql-map";

const DB = DATABASE_SPEC.database;
let pg: TestPostgres;

beforeAll(() => {
  pg = startPostgres();
  provisionMailDatabase(pg);
  pg.query(fs.readFileSync(path.join(ROOT, "bench/lookup-data.sql"), "utf8"), { database: DB });
}, 120_000);
afterAll(() => pg?.stop(), 60_000);

/** The plan's node types and relations, flattened. */
function scans(sql: string): { type: string; relation?: string }[] {
  const out = pg.query(`EXPLAIN (FORMAT JSON) ${sql}`, { database: DB });
  const walk = (n: Record<string, unknown>): { type: string; relation?: string }[] => [
    { type: String(n["Node Type"]), ...(n["Relation Name"] ? { relation: String(n["Relation Name"]) } : {}) },
    ...((n.Plans as Record<string, unknown>[] | undefined) ?? []).flatMap(walk),
  ];
  return walk((JSON.parse(out) as { Plan: Record<string, unknown> }[])[0]?.Plan ?? {});
}

const maps = renderPostfixMaps(DATABASE_SPEC);
const dovecot = renderDovecotSql(DATABASE_SPEC);
const KEY = "u4242@d4243.example";
/** A Postfix map's query as Postfix sends it for `key`. */
const postfix = (map: keyof typeof maps, key: string): string => {
  const sql = postfixQuery(setting(maps[map], "query"), key);
  if (sql === null) throw new Error(`Postfix sends no ${map} query for ${key}`);
  return sql;
};
const cases: [string, string][] = [
  ["postfix virtual_mailbox_domains", postfix("virtual_mailbox_domains", "d4243.example")],
  ["postfix virtual_mailbox_maps", postfix("virtual_mailbox_maps", KEY)],
  ["postfix virtual_alias_maps (address)", postfix("virtual_alias_maps", "a42@d43.example")],
  ["postfix virtual_alias_maps (catch-all)", postfix("virtual_alias_maps", "@d42.example")],
  ["postfix sender_login_maps", postfix("sender_login_maps", KEY)],
  // The loop walk from an alias, a mailbox, an address only a catch-all
  // takes, and a plus address (looked up again without its extension).
  ["postfix alias_loops (alias)", postfix("alias_loops", "a42@d43.example")],
  ["postfix alias_loops (mailbox)", postfix("alias_loops", KEY)],
  ["postfix alias_loops (catch-all)", postfix("alias_loops", "nobody@d42.example")],
  ["postfix alias_loops (plus address)", postfix("alias_loops", "a42+news@d43.example")],
  ["dovecot password_query", setting(dovecot, "password_query").replace(/%u/g, KEY)],
  [
    "dovecot user_query",
    setting(dovecot, "user_query")
      .replace(/%u/g, KEY)
      .replace(/%d/g, "d4243.example")
      .replace(/%n/g, "u4242"),
  ],
];

describe("lookup plans at 100k users and 10k domains", () => {
  it.each(cases)("%s uses indexes only", (_, sql) => {
    const seq = scans(sql).filter((s) => s.type === "Seq Scan");
    expect(seq, `sequential scans in: ${sql}`).toEqual([]);
  });

  it("the data is really there", () => {
    expect(pg.query("SELECT count(*) FROM virtual_users", { database: DB })).toBe("100000");
  });
});
