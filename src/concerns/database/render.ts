// PostgreSQL's own files, rendered from typed values: the postgresql.conf
// drop-in, pg_hba.conf and pg_ident.conf. Pure: no config, no Pulumi. The
// SQL the database runs is rendered in spec.ts, accounts-sql.ts and
// migrations.ts; the daemons' lookups in lookups.ts.
import { render } from "../../core/template";
import { type DatabaseSpec, identMapLines } from "./spec";

/** The pg_ident.conf map name that ties daemon OS users to their lookup roles. */
const IDENT_MAP = "mailstack";

/** postgresql.conf drop-in. Pure. */
export function renderPostgresConf(): string {
  return render("postgres/50-mailstack.conf", {});
}

/** pg_hba.conf: peer on the socket (mapped for the lookup roles), passwords on localhost only. Pure. */
export function renderHba(spec: DatabaseSpec): string {
  return render("postgres/pg_hba.conf", { database: spec.database, map: IDENT_MAP });
}

/** pg_ident.conf: daemon OS user -> lookup role. Pure. */
export function renderIdent(spec: DatabaseSpec): string {
  return render("postgres/pg_ident.conf", { maps: identMapLines(spec, IDENT_MAP).join("\n") });
}
