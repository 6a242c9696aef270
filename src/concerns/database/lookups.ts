// How Postfix and Dovecot read the mail database: the Postfix pgsql maps
// (files/postfix/pgsql/*.cf) and Dovecot's passdb/userdb
// (files/dovecot/dovecot-sql.conf.ext). Pure render functions: the database
// and role names come from the spec (src/concerns/database/spec.ts), and every
// file connects over the local socket with peer authentication, so none of
// them holds a password.

import { PG_SOCKET_DIR } from "../../core/host-layout";
import { render } from "../../core/template";
import { type DatabaseSpec, type LookupRole, validateSpec } from "./spec";

/**
 * The Postfix lookup tables, each one `files/postfix/pgsql/<name>.cf`. The
 * first four hold the accounts; alias_loops is a recipient restriction that
 * refuses mail whose aliases loop.
 */
export const POSTFIX_MAPS = [
  "virtual_mailbox_domains",
  "virtual_mailbox_maps",
  "virtual_alias_maps",
  "sender_login_maps",
  "alias_loops",
] as const;
export type PostfixMap = (typeof POSTFIX_MAPS)[number];

/** The lookup role of a daemon's OS user; throws when the spec has none. Pure. */
export function lookupRole(spec: DatabaseSpec, osUser: string): LookupRole {
  validateSpec(spec);
  const role = spec.lookupRoles.find((r) => r.osUser === osUser);
  if (role === undefined) {
    throw new Error(`database spec: no lookup role for the ${osUser} OS user (lookupRoles[].osUser)`);
  }
  return role;
}

/** One Postfix pgsql map, connecting as the postfix OS user's role. Pure. */
export function renderPostfixMap(spec: DatabaseSpec, map: PostfixMap): string {
  return render(`postfix/pgsql/${map}.cf`, {
    socketDir: PG_SOCKET_DIR,
    user: lookupRole(spec, "postfix").role,
    dbname: spec.database,
  });
}

/** Every Postfix pgsql map, by name. Pure. */
export function renderPostfixMaps(spec: DatabaseSpec): Record<PostfixMap, string> {
  return Object.fromEntries(POSTFIX_MAPS.map((m) => [m, renderPostfixMap(spec, m)])) as Record<
    PostfixMap,
    string
  >;
}

export interface DovecotSqlArgs {
  /** Root of the mailboxes; each user's home is `<mailRoot>/<domain>/<localpart>`. Default /var/vmail. */
  readonly mailRoot?: string;
  /** OS user and group that own the mailboxes. Default vmail. */
  readonly vmailUser?: string;
}

/** Dovecot's dovecot-sql.conf.ext (passdb and userdb), as the dovecot OS user's role. Pure. */
export function renderDovecotSql(spec: DatabaseSpec, args: DovecotSqlArgs = {}): string {
  const mailRoot = args.mailRoot ?? "/var/vmail";
  const vmailUser = args.vmailUser ?? "vmail";
  if (!/^\/[A-Za-z0-9._/-]*[^/]$/.test(mailRoot)) {
    throw new Error(`dovecot sql: mailRoot "${mailRoot}" must be an absolute path without a trailing slash`);
  }
  if (!/^[a-z_][a-z0-9_-]*$/.test(vmailUser)) {
    throw new Error(`dovecot sql: vmailUser "${vmailUser}" is not a plain user name`);
  }
  return render("dovecot/dovecot-sql.conf.ext", {
    socketDir: PG_SOCKET_DIR,
    dbname: spec.database,
    user: lookupRole(spec, "dovecot").role,
    mailRoot,
    vmailUser,
  });
}
