// The mail database on the mail host: PostgreSQL from the distribution,
// listening only on its socket and localhost; the roles and grants of
// src/concerns/database/spec.ts; the schema migrations; and the accounts from
// stack config. Roles come from @pulumi/postgresql (managed mode) or from a
// DBA (preprovisioned mode, where the stack checks they exist and migrates).
import * as command from "@pulumi/command";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { neverDropped } from "../../core/lifetime";
import { asRoot, ConfigPush, commandConnection, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, script } from "../../core/remote";
import { startTunnel, type TunnelOpener } from "../../core/tunnel";
import type { HostOs } from "../host/settings";
import { renderAccountsSql, renderPasswordsSql, sqlString } from "./accounts-sql";
import { MAIL_DATABASE_TYPE, managedNames } from "./adopt";
import { loadMigrations, renderMigrationPayload } from "./migrations";
import { renderHba, renderIdent, renderPostgresConf } from "./render";
import type { AccountsConfig, DatabaseConfig, DomainConfig } from "./settings";
import { DATABASE_SPEC, type DatabaseSpec, renderTableGrantsSql, validateSpec } from "./spec";

/** PostgreSQL major version of each supported OS. */
export const POSTGRES_VERSION: Readonly<Record<HostOs, number>> = { debian12: 15, ubuntu2204: 14 };

export interface MailDatabaseArgs {
  readonly connection: HostConnection;
  readonly os: HostOs;
  readonly config: DatabaseConfig;
  readonly domains: readonly DomainConfig[];
  readonly accounts: AccountsConfig;
  /** Roles and grants. Default DATABASE_SPEC. */
  readonly spec?: DatabaseSpec;
  /** Opens the SSH tunnel of managed mode. Default startTunnel (tests pass a stand-in). */
  readonly tunnel?: TunnelOpener;
  /** Resources the database waits for (the host's base setup). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/**
 * psql as the postgres superuser over its socket, reading SQL from stdin. It
 * starts in / (env -C): in the login's home, which postgres may not enter,
 * psql would print "could not change directory" on every deploy.
 */
function psql(user: string, database: string): string {
  return asRoot(user, `env -C / runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d ${database} -f -`);
}

/**
 * Makes the resources in the order given, each waiting for the one before.
 * Two grants that change one database, schema or table at once can fail with
 * "tuple concurrently updated" (cyrilgdn/terraform-provider-postgresql#178,
 * pulumi/pulumi-postgresql#126), halfway through a deploy. One chain for all of
 * them, not one per object: there are a dozen, each a few milliseconds, and a
 * single order cannot miss a pair that shares an object.
 */
function oneAtATime<T extends pulumi.Resource>(
  opts: pulumi.CustomResourceOptions,
  after: readonly pulumi.Resource[],
  make: readonly ((opts: pulumi.CustomResourceOptions) => T)[],
): T[] {
  const made: T[] = [];
  for (const m of make) {
    const previous = made.at(-1);
    made.push(m({ ...opts, dependsOn: previous === undefined ? [...after] : [...after, previous] }));
  }
  return made;
}

export class MailDatabase extends pulumi.ComponentResource {
  /** The @pulumi/postgresql provider of managed mode. */
  private pgProvider?: postgresql.Provider;
  /** PostgreSQL major version on the host. */
  readonly postgresVersion: number;
  /** The migrations runner's summary line. */
  readonly migrations: pulumi.Output<string>;
  /** Installed versions of the PostgreSQL packages. */
  readonly versions: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: MailDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super(MAIL_DATABASE_TYPE, name, {}, opts);
    const spec = args.spec ?? DATABASE_SPEC;
    validateSpec(spec);
    const conn = args.connection;
    const db = args.config;
    const version = POSTGRES_VERSION[args.os];
    const etc = `/etc/postgresql/${version}/main`;
    const connection = commandConnection(conn);

    const server = installPackages(`${name}-server`, conn, ["postgresql", "postgresql-client"], {
      parent: this,
      dependsOn: [...(args.dependsOn ?? [])],
    });

    const owned = { owner: "postgres", group: "postgres" };
    const settings = new ConfigPush(
      `${name}-settings`,
      {
        connection: conn,
        files: [
          { path: `${etc}/conf.d/50-mailstack.conf`, content: renderPostgresConf(), ...owned },
          { path: `${etc}/pg_hba.conf`, content: renderHba(spec), ...owned, mode: "0640" },
          { path: `${etc}/pg_ident.conf`, content: renderIdent(spec), ...owned, mode: "0640" },
        ],
        // postgres -C parses the whole configuration, conf.d included, without starting a server.
        check: [
          `runuser -u postgres -- /usr/lib/postgresql/${version}/bin/postgres -C listen_addresses -c config_file=${etc}/postgresql.conf`,
        ],
        reload: { service: "postgresql", action: "reload" },
        // A bad pg_hba.conf line is only reported once loaded: then roll back.
        verify: [
          `test "$(runuser -u postgres -- psql -XAtc 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL')" = 0`,
        ],
      },
      { parent: this, dependsOn: [server] },
    );

    // Roles and the database: made here (managed) or by a DBA (preprovisioned).
    const roles: pulumi.Resource[] =
      db.mode === "managed"
        ? this.managedRoles(name, spec, conn, db, [settings], args.tunnel ?? startTunnel)
        : [
            new command.remote.Command(
              `${name}-roles-check`,
              {
                connection,
                create: script(conn.user, "postgres/roles-check.sh", [
                  spec.database,
                  spec.owner,
                  ...spec.lookupRoles.map((r) => r.role),
                ]),
                addPreviousOutputInEnv: false,
              },
              { parent: this, dependsOn: [settings] },
            ),
          ];

    const migrations = new command.remote.Command(
      `${name}-migrations`,
      {
        connection,
        create: script(conn.user, "postgres/migrate.sh"),
        stdin: renderMigrationPayload(spec.database, spec.owner, loadMigrations()),
        addPreviousOutputInEnv: false,
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: roles },
    );

    const grants: pulumi.Resource[] =
      db.mode === "managed"
        ? this.managedTableGrants(name, spec, roles, migrations)
        : [
            new command.remote.Command(
              `${name}-grants`,
              {
                connection,
                create: psql(conn.user, spec.database),
                stdin: `SET ROLE ${spec.owner};\n${renderTableGrantsSql(spec)}`,
                addPreviousOutputInEnv: false,
              },
              { parent: this, dependsOn: [migrations] },
            ),
          ];

    const accounts = new command.remote.Command(
      `${name}-accounts`,
      {
        connection,
        create: psql(conn.user, spec.database),
        stdin: renderAccountsSql(spec, args.domains, args.accounts),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [migrations] },
    );
    new command.remote.Command(
      `${name}-passwords`,
      {
        connection,
        create: psql(conn.user, spec.database),
        stdin: pulumi.secret(
          args.accounts.passwordHashes.apply((h) => renderPasswordsSql(spec, args.accounts.users, h)),
        ),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [accounts, ...grants], additionalSecretOutputs: ["stdin"] },
    );

    this.postgresVersion = version;
    this.migrations = migrations.stdout;
    this.versions = server.stdout.apply(parseVersions);
    this.registerOutputs({ postgresVersion: version, migrations: this.migrations, versions: this.versions });
  }

  /** Roles, database and schema rights through @pulumi/postgresql. */
  private managedRoles(
    name: string,
    spec: DatabaseSpec,
    conn: HostConnection,
    db: DatabaseConfig,
    after: pulumi.Resource[],
    tunnel: TunnelOpener,
  ): pulumi.Resource[] {
    const parent = { parent: this };
    const adminPassword = db.adminPassword;
    if (adminPassword === undefined) {
      throw new pulumi.ResourceError("managed mode needs mailstack:dbAdminPassword", this);
    }
    const ready: pulumi.Resource[] = [...after];
    if (db.host === undefined) {
      // The mail host's own PostgreSQL: give the admin role the configured
      // password (peer-authenticated, over SSH) and reach it through a tunnel.
      ready.push(
        new command.remote.Command(
          `${name}-admin-password`,
          {
            connection: commandConnection(conn),
            create: psql(conn.user, "postgres"),
            stdin: pulumi.secret(
              pulumi.interpolate`ALTER ROLE ${db.adminUser} PASSWORD ${adminPassword.apply(sqlString)};\n`,
            ),
            addPreviousOutputInEnv: false,
          },
          { parent: this, dependsOn: after, additionalSecretOutputs: ["stdin"] },
        ),
      );
    }
    // The provider's host resolves once the tunnel listens, so a tunnel that
    // cannot open fails the deployment with its own message.
    const host =
      db.host ??
      pulumi.unsecret(
        conn.privateKey.apply(async (key) => {
          await tunnel({ connection: conn, localPort: db.tunnelPort, remotePort: db.port }, key);
          return "127.0.0.1";
        }),
      );
    const names = managedNames(name);
    const provider = new postgresql.Provider(
      names.provider,
      {
        host,
        port: db.host === undefined ? db.tunnelPort : db.port,
        username: db.adminUser,
        password: adminPassword,
        database: "postgres",
        superuser: true,
        // The tunnel is already encrypted; an external server must use TLS.
        sslmode: db.host === undefined ? "disable" : "require",
      },
      parent,
    );
    this.pgProvider = provider;
    // Roles, the database and the rights are never deleted by the engine, not
    // on destroy, not when the stack leaves managed mode, not on a removal or
    // replacement: deleting a role drops what it owns, the database holds the
    // accounts, and revoking a right stops the lookups (src/core/lifetime.ts).
    const withProvider = { parent: this, ...neverDropped(provider), dependsOn: ready };

    const ownerPassword =
      db.ownerPassword ??
      new random.RandomPassword(`${name}-owner-password`, { length: 32, special: false }, parent).result;
    const owner = new postgresql.Role(
      names.role(spec.owner),
      { name: spec.owner, login: true, password: ownerPassword },
      withProvider,
    );
    const lookups = spec.lookupRoles.map(
      (r) => new postgresql.Role(names.role(r.role), { name: r.role, login: true }, withProvider),
    );
    const database = new postgresql.Database(
      names.database,
      { name: spec.database, owner: spec.owner, encoding: "UTF8", template: "template0" },
      // PostgreSQL does not record the template a database was copied from, so
      // an adopted database (`pulumi import`, README) cannot match it, and a
      // change would be a replacement: a second CREATE DATABASE of the same name.
      { ...withProvider, dependsOn: [...ready, owner], ignoreChanges: ["template"] },
    );
    const rights = oneAtATime<pulumi.CustomResource>(
      withProvider,
      [database, ...lookups],
      [
        (o) =>
          new postgresql.Grant(
            `${name}-connect`,
            { database: spec.database, role: "public", objectType: "database", privileges: [] },
            o,
          ),
        // PostgreSQL 15 still gives PUBLIC USAGE on schema public; roles.sql
        // revokes it, and so does this (no privileges: revoke, grant nothing).
        (o) =>
          new postgresql.Grant(
            `${name}-schema-public`,
            {
              database: spec.database,
              role: "public",
              schema: "public",
              objectType: "schema",
              privileges: [],
            },
            o,
          ),
        (o) =>
          new postgresql.Grant(
            `${name}-schema-${spec.owner}`,
            {
              database: spec.database,
              role: spec.owner,
              schema: "public",
              objectType: "schema",
              privileges: ["CREATE", "USAGE"],
            },
            o,
          ),
        (o) =>
          new postgresql.DefaultPrivileges(
            `${name}-default-privileges`,
            {
              database: spec.database,
              owner: spec.owner,
              role: "public",
              schema: "public",
              objectType: "table",
              privileges: [],
            },
            o,
          ),
        ...spec.lookupRoles.flatMap((r) => [
          (o: pulumi.CustomResourceOptions) =>
            new postgresql.Grant(
              `${name}-connect-${r.role}`,
              { database: spec.database, role: r.role, objectType: "database", privileges: ["CONNECT"] },
              o,
            ),
          (o: pulumi.CustomResourceOptions) =>
            new postgresql.Grant(
              `${name}-schema-${r.role}`,
              {
                database: spec.database,
                role: r.role,
                schema: "public",
                objectType: "schema",
                privileges: ["USAGE"],
              },
              o,
            ),
        ]),
      ],
    );
    return [owner, ...lookups, database, ...rights];
  }

  /** Column grants of the lookup roles, once the migrations made the tables. */
  private managedTableGrants(
    name: string,
    spec: DatabaseSpec,
    roles: pulumi.Resource[],
    migrations: pulumi.Resource,
  ): pulumi.Resource[] {
    const provider = this.pgProvider;
    if (provider === undefined) throw new pulumi.ResourceError("table grants need managedRoles first", this);
    return oneAtATime(
      { parent: this, ...neverDropped(provider) },
      [...roles, migrations],
      spec.lookupRoles.flatMap((r) =>
        r.select.map(
          (g) => (o: pulumi.CustomResourceOptions) =>
            new postgresql.Grant(
              `${name}-select-${r.role}-${g.table}`,
              {
                database: spec.database,
                role: r.role,
                schema: "public",
                objectType: g.columns ? "column" : "table",
                objects: [g.table],
                ...(g.columns ? { columns: [...g.columns] } : {}),
                privileges: ["SELECT"],
              },
              o,
            ),
        ),
      ),
    );
  }
}
