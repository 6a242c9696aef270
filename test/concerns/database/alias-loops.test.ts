// The alias_loops map (files/postfix/pgsql/alias_loops.cf) on a real
// PostgreSQL: alias loops written straight into the tables, and the rendered
// query run as Postfix runs it (the key filled in as pgsql_table(5) says, as
// the postfix lookup role with the spec's grants) for each recipient. A loop
// is what Postfix's cleanup would follow to its nesting limit and defer
// (451 4.6.0) on every attempt: an address that expands to itself ends the
// expansion, so a path back to it is no loop. The map answers a loop with one
// 550 row naming it, anything else with no row.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupRole, renderPostfixMap } from "../../../src/concerns/database/lookups";
import { DATABASE_SPEC, renderTableGrantsSql } from "../../../src/concerns/database/spec";
import { provisionMailDatabase, startPostgres, type TestPostgres } from "../../helpers/pg";
import { accessKeys, mapSetting, postfixQuery } from "../../helpers/pgsql-map";

const DB = DATABASE_SPEC.database;
const ROLE = lookupRole(DATABASE_SPEC, "postfix").role;
const QUERY = mapSetting(renderPostfixMap(DATABASE_SPEC, "alias_loops"), "query");
let pg: TestPostgres;

/** The map's answer for one key: its row, null without one (or when Postfix sends no query). */
function answer(key: string): string | null {
  const sql = postfixQuery(QUERY, key);
  if (sql === null) return null;
  const out = pg.query(sql, { role: ROLE, database: DB });
  expect(out.split("\n").length, `one row at most for ${key}`).toBe(1);
  return out === "" ? null : out;
}

/** What check_recipient_access gets for a recipient: the first key with a row (access(5)). */
function recipientAnswer(address: string): string | null {
  for (const key of accessKeys(address)) {
    const a = answer(key);
    if (a !== null) return a;
  }
  return null;
}

const loop = (...path: string[]) => `550 5.4.6 alias loop ${path.join(" -> ")}`;

/** Alias rows, source -> destination, with the domain taken from the source. */
const ALIASES: [string, string][] = [
  // 2-cycle and 3-cycle.
  ["a@x.test", "b@x.test"],
  ["b@x.test", "a@x.test"],
  ["c1@x.test", "c2@x.test"],
  ["c2@x.test", "c3@x.test"],
  ["c3@x.test", "c1@x.test"],
  // Aliases to themselves: one without a mailbox, one on a mailbox.
  ["self@x.test", "self@x.test"],
  ["m@x.test", "m@x.test"],
  // Through a catch-all: cb@y.test is no mailbox, so @y.test takes it.
  ["ca@x.test", "cb@y.test"],
  ["@y.test", "ca@x.test"],
  // Fan-out: one destination is a mailbox, the other loops further on.
  ["f@x.test", "m@x.test"],
  ["f@x.test", "g@x.test"],
  ["g@x.test", "h@x.test"],
  ["h@x.test", "g@x.test"],
  // Fan-out whose other destination comes back to the alias itself.
  ["p@x.test", "m@x.test"],
  ["p@x.test", "q@x.test"],
  ["q@x.test", "p@x.test"],
  // A mailbox that forwards to an alias pointing back at it.
  ["box@x.test", "fwd@x.test"],
  ["fwd@x.test", "box@x.test"],
  // A loop through a disabled alias, and one in an inactive domain.
  ["d1@x.test", "d2@x.test"],
  ["d2@x.test", "d1@x.test"],
  ["o1@off.test", "o2@off.test"],
  ["o2@off.test", "o1@off.test"],
  // A mailbox of the catch-all's domain is never the catch-all's.
  ["@z.test", "m@x.test"],
  // A plus address with an alias of its own, beside the looping a@x.test.
  ["a+own@x.test", "m@x.test"],
];

beforeAll(() => {
  pg = startPostgres();
  provisionMailDatabase(pg);
  pg.query(`SET ROLE ${DATABASE_SPEC.owner};\n${renderTableGrantsSql(DATABASE_SPEC)}`, { database: DB });
  const chain = (name: string, length: number, last: string): [string, string][] =>
    Array.from({ length }, (_, i) => [
      `${name}${i + 1}@x.test`,
      i + 1 === length ? last : `${name}${i + 2}@x.test`,
    ]);
  // 50 aliases in a row, ending in a mailbox.
  const long = chain("long", 50, "m@x.test");
  // Chains whose last alias points one back: the loop's path holds 100 and
  // 101 addresses, one within the walk's bound and one past it.
  const within = chain("k", 99, "k98@x.test");
  const past = chain("j", 100, "j99@x.test");
  // 30 diamonds in a row (dia1 -> l1, r1 -> dia2 -> ...), the last back to
  // the first: 2^30 paths, a loop only after 60 hops, as the walk meets it.
  const diamonds: [string, string][] = [];
  for (let i = 1; i <= 30; i++) {
    for (const side of ["l", "r"]) {
      diamonds.push([`dia${i}@x.test`, `${side}${i}@x.test`], [`${side}${i}@x.test`, `dia${i + 1}@x.test`]);
    }
  }
  diamonds.push(["dia31@x.test", "dia1@x.test"]);
  // A list of 300 members, each an alias of a mailbox, and one that loops.
  const list: [string, string][] = Array.from({ length: 300 }, (_, i) => [
    ["team@x.test", `member${i + 1}@x.test`] as [string, string],
    [`member${i + 1}@x.test`, "m@x.test"] as [string, string],
  ]).flat();
  list.push(["team@x.test", "a@x.test"]);
  const rows = [...ALIASES, ...long, ...within, ...past, ...diamonds, ...list];
  const values = rows.map(([s, d]) => `('${s}', '${d}')`).join(",\n  ");
  pg.query(
    `INSERT INTO domains (domain_name, is_active) VALUES
       ('x.test', true), ('y.test', true), ('z.test', true), ('off.test', false);
     INSERT INTO virtual_users (domain_id, email)
       SELECT d.id, v.email FROM (VALUES ('m@x.test'), ('box@x.test'), ('mz@z.test')) AS v (email)
       JOIN domains d ON d.domain_name = split_part(v.email, '@', 2);
     INSERT INTO virtual_aliases (domain_id, source, destination)
       SELECT d.id, v.s, v.d FROM (VALUES\n  ${values}) AS v (s, d)
       JOIN domains d ON d.domain_name = split_part(v.s, '@', 2);
     UPDATE virtual_aliases SET enabled = false WHERE source = 'd2@x.test';
     ANALYZE;`,
    { database: DB },
  );
  expect(pg.query("SELECT count(*) FROM virtual_aliases", { database: DB })).toBe(String(rows.length));
}, 120_000);
afterAll(() => pg?.stop(), 60_000);

describe("alias_loops on a real PostgreSQL", () => {
  it("names a 2-cycle and a 3-cycle from wherever the mail enters", () => {
    expect(answer("a@x.test")).toBe(loop("a@x.test", "b@x.test", "a@x.test"));
    expect(answer("b@x.test")).toBe(loop("b@x.test", "a@x.test", "b@x.test"));
    expect(answer("c2@x.test")).toBe(loop("c2@x.test", "c3@x.test", "c1@x.test", "c2@x.test"));
  });

  it("an alias to itself is no loop: Postfix delivers it (or bounces it at once when there is no mailbox)", () => {
    // cleanup(8) stops at an address that expanded into itself.
    expect(answer("self@x.test")).toBeNull();
    expect(answer("m@x.test")).toBeNull();
  });

  it("names a loop through a catch-all, also for any other address of that domain", () => {
    expect(answer("ca@x.test")).toBe(loop("ca@x.test", "cb@y.test", "ca@x.test"));
    expect(answer("cb@y.test")).toBe(loop("cb@y.test", "ca@x.test", "cb@y.test"));
    expect(answer("anyone@y.test")).toBe(loop("anyone@y.test", "ca@x.test", "cb@y.test", "ca@x.test"));
    // A mailbox is looked up before the catch-all and answers with itself.
    expect(answer("mz@z.test")).toBeNull();
    expect(answer("other@z.test")).toBeNull();
  });

  it("a long chain that ends in a mailbox is no loop", () => {
    expect(answer("long1@x.test")).toBeNull();
    expect(answer("long25@x.test")).toBeNull();
  });

  it("a fan-out with one destination looping is refused, the other one's delivery notwithstanding", () => {
    expect(answer("f@x.test")).toBe(loop("f@x.test", "g@x.test", "h@x.test", "g@x.test"));
    // Postfix follows whichever destination the lookup returns first: through
    // q it would loop, through m it would not. Refused either way.
    expect(answer("p@x.test")).toBe(loop("p@x.test", "q@x.test", "p@x.test"));
  });

  it("a mailbox is no loop, even when an alias of it points back at it", () => {
    // box expands to itself and to fwd, fwd back to box: box is final.
    expect(answer("box@x.test")).toBeNull();
    expect(answer("fwd@x.test")).toBeNull();
  });

  it("disabled aliases and inactive domains resolve to nothing, as in virtual_alias_maps", () => {
    expect(answer("d1@x.test")).toBeNull();
    expect(answer("o1@off.test")).toBeNull();
  });

  it("an address nobody knows has no row", () => {
    expect(answer("nobody@x.test")).toBeNull();
    expect(answer("someone@elsewhere.test")).toBeNull();
  });

  it("a plus address loops with its extension, as Postfix propagates it", () => {
    expect(answer("a+news@x.test")).toBe(loop("a+news@x.test", "b+news@x.test", "a+news@x.test"));
    expect(answer("m+news@x.test")).toBeNull();
    expect(answer("f+news@x.test")).toBe(
      loop("f+news@x.test", "g+news@x.test", "h+news@x.test", "g+news@x.test"),
    );
  });

  it("Postfix's other access keys (domain, user@) send no query; the recipient gets the loop", () => {
    expect(accessKeys("a+news@x.test")).toEqual([
      "a+news@x.test",
      "a@x.test",
      "x.test",
      ".test",
      "a+news@",
      "a@",
    ]);
    expect(postfixQuery(QUERY, "x.test")).toBeNull();
    expect(postfixQuery(QUERY, "a@")).toBeNull();
    expect(recipientAnswer("B@X.test")).toBe(loop("b@x.test", "a@x.test", "b@x.test"));
    expect(recipientAnswer("m+news@x.test")).toBeNull();
    // a+own@ itself does not loop, but Postfix asks again without the
    // extension, and a@ does: refused (the limit alias_loops.cf names).
    expect(answer("a+own@x.test")).toBeNull();
    expect(recipientAnswer("a+own@x.test")).toBe(loop("a@x.test", "b@x.test", "a@x.test"));
  });

  it("a quote in the address is data, not SQL", () => {
    expect(answer("o'brien@x.test")).toBeNull();
  });

  it("walks paths of up to 100 addresses: a loop past that is left to Postfix", () => {
    const within = answer("k1@x.test");
    expect(within).toMatch(/^550 5\.4\.6 alias loop k1@x\.test -> k2@x\.test -> /);
    // Cut to fit one SMTP reply line.
    expect(within?.length).toBe("550 5.4.6 alias loop ".length + 200);
    expect(answer("k97@x.test")).toBe(loop("k97@x.test", "k98@x.test", "k99@x.test", "k98@x.test"));
    expect(answer("j1@x.test")).toBeNull();
    expect(answer("j2@x.test")).not.toBeNull();
  });

  it("stops after 1000 rows of walk, however many paths the aliases make", () => {
    // Postfix would defer this one itself: it expands to over 1000 addresses.
    const t0 = Date.now();
    expect(answer("dia1@x.test")).toBeNull();
    expect(Date.now() - t0).toBeLessThan(5000);
    // A list of hundreds stays within the bound, and its looping member is named.
    expect(answer("team@x.test")).toBe(loop("team@x.test", "a@x.test", "b@x.test", "a@x.test"));
  });
});
