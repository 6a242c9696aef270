// The Postfix pgsql maps and Dovecot's SQL config: snapshots, and the
// properties that matter whatever the wording (peer auth, no password, names
// from the spec). test/sandbox/lookups-contract.ts runs them against the sandbox.
import { describe, expect, it } from "vitest";
import {
  lookupRole,
  POSTFIX_MAPS,
  renderDovecotSql,
  renderPostfixMap,
  renderPostfixMaps,
} from "../../../src/concerns/database/lookups";
import { DATABASE_SPEC, type DatabaseSpec } from "../../../src/concerns/database/spec";

const HEADER = /^# Managed by mailstack \(Pulumi\)\. Do not edit.*\n# Source: files\/\S+\n/;

/** `key = value` settings of a Postfix or Dovecot file, continuation lines joined. */
function settings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const joined = text.replace(/\\\n/g, " ").replace(/\n[ \t]+/g, " ");
  for (const line of joined.split("\n")) {
    const m = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out.set(m[1], m[2].replace(/\s+/g, " ").trim());
  }
  return out;
}

describe("postfix pgsql maps", () => {
  for (const map of POSTFIX_MAPS) {
    it(`${map}.cf`, () => expect(renderPostfixMap(DATABASE_SPEC, map)).toMatchSnapshot());
  }

  it("connect over the socket as the postfix lookup role, with no password line", () => {
    for (const [map, text] of Object.entries(renderPostfixMaps(DATABASE_SPEC))) {
      expect(text, map).toMatch(HEADER);
      expect(text, map).not.toMatch(/^\s*password\s*=/m);
      const s = settings(text);
      expect([s.get("hosts"), s.get("user"), s.get("dbname")], map).toEqual([
        "unix:/var/run/postgresql",
        "postfix_lookup",
        "mailserver",
      ]);
      expect(s.get("query"), map).toContain("'%s'");
      expect(text, map).not.toContain("{{");
    }
  });

  it("the alias map answers an enabled mailbox with itself, so a catch-all cannot swallow it", () => {
    const q = settings(renderPostfixMap(DATABASE_SPEC, "virtual_alias_maps")).get("query") ?? "";
    expect(q).toMatch(/a\.source = '%s' AND a\.enabled AND d\.is_active UNION SELECT u\.email/);
    expect(q).toMatch(/u\.email = '%s' AND u\.enabled AND d\.is_active$/);
  });

  it("the loop walk looks each address up with the alias map's own query", () => {
    const alias = settings(renderPostfixMap(DATABASE_SPEC, "virtual_alias_maps")).get("query") ?? "";
    const loops = settings(renderPostfixMap(DATABASE_SPEC, "alias_loops")).get("query") ?? "";
    expect(alias).toContain("'%s'");
    // Every address of the walk is k.key where Postfix's lookup has its key.
    expect(loops.replace(/\( /g, "(").replace(/ \)/g, ")")).toContain(alias.replaceAll("'%s'", "k.key"));
  });

  it("the loop map answers a 5xx naming the loop, and needs a domain in the key", () => {
    const q = settings(renderPostfixMap(DATABASE_SPEC, "alias_loops")).get("query") ?? "";
    expect(q).toContain("'550 5.4.6 alias loop '");
    // %d: Postfix sends no query for the "domain" and "user@" keys of access(5).
    expect(q).toContain("'%d'");
    expect(q).toMatch(/LIMIT 1$/);
  });

  it("never reads a password hash", () => {
    for (const text of Object.values(renderPostfixMaps(DATABASE_SPEC)))
      expect(text).not.toContain("password_hash");
  });
});

describe("dovecot-sql.conf.ext", () => {
  it("default", () => expect(renderDovecotSql(DATABASE_SPEC)).toMatchSnapshot());

  it("connects over the socket as the dovecot lookup role, with no password", () => {
    const text = renderDovecotSql(DATABASE_SPEC);
    expect(text).toMatch(HEADER);
    const s = settings(text);
    expect(s.get("driver")).toBe("pgsql");
    expect(s.get("connect")).toBe("host=/var/run/postgresql dbname=mailserver user=dovecot_lookup");
    expect(s.get("connect")).not.toMatch(/password/i);
    expect(s.get("default_pass_scheme")).toBe("ARGON2ID");
  });

  it("checks passwords only for enabled users of active local-auth domains", () => {
    const q = settings(renderDovecotSql(DATABASE_SPEC)).get("password_query") ?? "";
    for (const cond of ["u.enabled", "d.is_active", "d.auth_type = 'local'", "u.email = '%u'"]) {
      expect(q).toContain(cond);
    }
  });

  it("gives every mailbox its home, the vmail owner and its quota; iterates the same users", () => {
    const s = settings(renderDovecotSql(DATABASE_SPEC, { mailRoot: "/srv/mail", vmailUser: "mail5000" }));
    const q = s.get("user_query") ?? "";
    expect(q).toContain("'/srv/mail/%d/%n' AS home, 'mail5000' AS uid, 'mail5000' AS gid");
    expect(q).toContain("'*:bytes=' || u.quota_bytes AS quota_rule");
    // LDAP users have mailboxes too: the userdb must not filter on auth_type.
    expect(q).not.toContain("auth_type");
    expect(s.get("iterate_query")).toMatch(/^SELECT u\.email AS user .* WHERE u\.enabled AND d\.is_active$/);
  });

  it("refuses a relative mail root or an odd user name", () => {
    expect(() => renderDovecotSql(DATABASE_SPEC, { mailRoot: "vmail" })).toThrow("absolute path");
    expect(() => renderDovecotSql(DATABASE_SPEC, { mailRoot: "/var/vmail/" })).toThrow("trailing slash");
    expect(() => renderDovecotSql(DATABASE_SPEC, { vmailUser: "v mail" })).toThrow("plain user name");
  });
});

describe("names come from the spec", () => {
  const spec: DatabaseSpec = {
    database: "mx",
    owner: "mxowner",
    lookupRoles: [
      { role: "pf_ro", osUser: "postfix", select: [] },
      { role: "dc_ro", osUser: "dovecot", select: [] },
    ],
  };

  it("database and roles follow the spec", () => {
    expect(settings(renderPostfixMap(spec, "virtual_mailbox_domains")).get("user")).toBe("pf_ro");
    expect(settings(renderPostfixMap(spec, "virtual_alias_maps")).get("dbname")).toBe("mx");
    expect(settings(renderDovecotSql(spec)).get("connect")).toBe(
      "host=/var/run/postgresql dbname=mx user=dc_ro",
    );
  });

  it("a spec without a daemon's role fails with the fix", () => {
    const noDovecot = { ...spec, lookupRoles: spec.lookupRoles.filter((r) => r.osUser !== "dovecot") };
    expect(() => renderDovecotSql(noDovecot)).toThrow("no lookup role for the dovecot OS user");
    expect(lookupRole(noDovecot, "postfix").role).toBe("pf_ro");
  });

  it("a spec with a non-identifier name is refused", () => {
    expect(() => renderPostfixMaps({ ...spec, database: "mail server" })).toThrow(
      "not plain SQL identifiers",
    );
  });
});
