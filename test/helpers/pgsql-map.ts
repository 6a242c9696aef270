// A Postfix pgsql map as Postfix runs it, for tests that run the rendered
// queries on a real PostgreSQL: a setting of the lookup file, and the query
// with a lookup key filled in the way pgsql_table(5) says (Postfix's
// db_common_expand), including the keys for which Postfix sends no query.

/** A setting's value from a lookup file, with continuation lines joined. */
export function mapSetting(text: string, key: string): string {
  const joined = text.replace(/\\\n\s*/g, " ").replace(/\n[ \t]+/g, " ");
  const line = joined.split("\n").find((l) => l.startsWith(`${key} =`));
  if (line === undefined) throw new Error(`no ${key} in lookup file`);
  return line.slice(key.length + 2).trim();
}

/**
 * The SQL Postfix sends for `key`, or null when it sends none: a query that
 * uses %d is skipped for a key without a domain ("example.test", "alice@"),
 * one that uses %u for a key without a local part ("@example.test"). The key
 * is folded to lower case first, as Postfix does for pgsql tables, and quoted
 * as PQescapeStringConn quotes it (standard_conforming_strings is on).
 */
export function postfixQuery(query: string, key: string): string | null {
  const folded = key.toLowerCase();
  const at = folded.lastIndexOf("@");
  const domain = at === -1 ? null : folded.slice(at + 1);
  const local = at === -1 ? folded : folded.slice(0, at);
  if (/%d/.test(query) && (domain === null || domain === "")) return null;
  if (/%u/.test(query) && at === 0) return null;
  const quote = (v: string) => v.replace(/'/g, "''");
  return query.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case "%":
        return "%";
      case "s":
        return quote(folded);
      case "u":
        return quote(local);
      case "d":
        return quote(domain ?? "");
      default:
        throw new Error(`%${c} in a query: Postfix refuses the map (invalid query template)`);
    }
  });
}

/**
 * The keys check_recipient_access looks `address` up with, in order
 * (access(5), EMAIL ADDRESS PATTERNS, with recipient_delimiter = +): the
 * address, the address without its extension, the domain and its parent
 * domains (as ".domain"), then "user+ext@" and "user@". Postfix takes the
 * first key that has a result.
 */
export function accessKeys(address: string): string[] {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const plus = local.indexOf("+");
  const bare = plus > 0 ? local.slice(0, plus) : null;
  const labels = domain.split(".");
  const parents = labels.slice(1).map((_, i) => `.${labels.slice(i + 1).join(".")}`);
  return [
    address,
    ...(bare === null ? [] : [`${bare}@${domain}`]),
    domain,
    ...parents,
    `${local}@`,
    ...(bare === null ? [] : [`${bare}@`]),
  ];
}
