// The mail database: PostgreSQL, its roles and grants, migrations, the accounts and the daemons' lookups.
export { renderAccountsSql, renderPasswordsSql, sqlString } from "./accounts-sql";
export { MailDatabase, type MailDatabaseArgs, POSTGRES_VERSION } from "./component";
export {
  type DovecotSqlArgs,
  lookupRole,
  POSTFIX_MAPS,
  type PostfixMap,
  renderDovecotSql,
  renderPostfixMap,
  renderPostfixMaps,
} from "./lookups";
export {
  loadMigrations,
  MIGRATIONS_DIR,
  type Migration,
  migrationChecksum,
  renderMigrationPayload,
} from "./migrations";
export { renderHba, renderIdent, renderPostgresConf } from "./render";
export type { AccountsConfig, DatabaseConfig, DomainConfig } from "./settings";
export * as settings from "./settings";
export {
  DATABASE_SPEC,
  type DatabaseSpec,
  declaredPrivileges,
  identMapLines,
  type LookupRole,
  PRIVILEGES,
  type PrivilegeRow,
  renderRolesSql,
  renderTableGrantsSql,
  type TableGrant,
  validateSpec,
} from "./spec";
