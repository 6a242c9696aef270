// Adopting a database and roles that already exist (made by roles.sql, or
// left by an old server or by preprovisioned mode) into managed mode. An `up`
// in managed mode would CREATE them and fail with `role "techmail" already
// exists`; `pulumi import` takes them into the state instead, and the next `up`
// only brings them to the spec. Grants need no import: the provider's grant is
// authoritative (it revokes, then grants, in one transaction), so creating it
// over an existing privilege changes nothing a lookup needs.
//
// The import IDs are what the provider reads back: a role's name, a
// database's name (pulumi-postgresql's Role and Database import docs). The
// names and URNs are the ones MailDatabase gives them, from managedNames here.
// scripts/db-adopt.ts prints the plan for a stack; README, The mail database,
// has the procedure around it.
import type { DatabaseSpec } from "./spec";

/** MailDatabase's type token: part of every URN below it. */
export const MAIL_DATABASE_TYPE = "mailstack:database:MailDatabase";
export const ROLE_TYPE = "postgresql:index/role:Role";
export const DATABASE_TYPE = "postgresql:index/database:Database";
export const PROVIDER_TYPE = "pulumi:providers:postgresql";

/** The names managed mode gives its provider, roles and database under a MailDatabase named `name`. Pure. */
export function managedNames(name: string): {
  readonly provider: string;
  readonly database: string;
  role(role: string): string;
} {
  return {
    provider: `${name}-provider`,
    database: `${name}-database`,
    role: (role) => `${name}-role-${role}`,
  };
}

/** Where the MailDatabase sits in a stack's resource tree. */
export interface StackPlace {
  /** The stack, as in `pulumi stack ls` (the URN's first part). */
  readonly stack: string;
  /** The project name of Pulumi.yaml. */
  readonly project: string;
  /** The type tokens of the components above the MailDatabase, outermost first. */
  readonly parentTypes: readonly string[];
  /** The MailDatabase component's name. */
  readonly component: string;
}

/** One `pulumi import`: the resource's type, name, provider ID and the URN it gets. */
export interface ImportTarget {
  readonly type: string;
  readonly name: string;
  /** The provider's import ID: the role's or the database's name in PostgreSQL. */
  readonly id: string;
  readonly urn: string;
}

/** A resource's URN under the MailDatabase at `place`. Pure. */
export function urnOf(place: StackPlace, type: string, name: string): string {
  const chain = [...place.parentTypes, MAIL_DATABASE_TYPE, type].join("$");
  return `urn:pulumi:${place.stack}::${place.project}::${chain}::${name}`;
}

/** The MailDatabase component's own URN. Pure. */
export function componentUrn(place: StackPlace): string {
  const chain = [...place.parentTypes, MAIL_DATABASE_TYPE].join("$");
  return `urn:pulumi:${place.stack}::${place.project}::${chain}::${place.component}`;
}

/** What to import, in the order the provider needs them: the roles, then the database they own. Pure. */
export function importTargets(place: StackPlace, spec: DatabaseSpec): ImportTarget[] {
  const names = managedNames(place.component);
  const roles = [spec.owner, ...spec.lookupRoles.map((r) => r.role)].map((role) => ({
    type: ROLE_TYPE,
    name: names.role(role),
    id: role,
    urn: urnOf(place, ROLE_TYPE, names.role(role)),
  }));
  const database = {
    type: DATABASE_TYPE,
    name: names.database,
    id: spec.database,
    urn: urnOf(place, DATABASE_TYPE, names.database),
  };
  return [...roles, database];
}

/**
 * The file `pulumi import --file` reads: each resource under the MailDatabase
 * component, through the stack's own postgresql provider (nameTable maps the
 * names used here to URNs already in the state). Pure.
 */
export function renderImportFile(place: StackPlace, spec: DatabaseSpec): string {
  const provider = managedNames(place.component).provider;
  const file = {
    nameTable: {
      [place.component]: componentUrn(place),
      [provider]: urnOf(place, PROVIDER_TYPE, provider),
    },
    resources: importTargets(place, spec).map((t) => ({
      type: t.type,
      name: t.name,
      id: t.id,
      parent: place.component,
      provider,
    })),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** How the operator reaches the PostgreSQL that managed mode will talk to. */
export interface AdoptionReach {
  /** External server (mailstack:dbHost): the provider connects to it directly, no tunnel. */
  readonly dbHost?: string;
  /** The mail host's SSH: where the tunnel goes when dbHost is unset. */
  readonly ssh: { readonly host: string; readonly port: number; readonly user: string };
  readonly dbPort: number;
  readonly tunnelPort: number;
}

/** A value as one shell word. Pure. */
function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The commands that adopt the existing database and roles into managed mode,
 * for the operator to read and run one by one (README, The mail database,
 * "Switching modes"). Mail flows at every step: nothing changes in
 * PostgreSQL before the last `up`, and that one only brings the roles to the
 * spec and grants what the lookups already have. Pure.
 */
export function renderAdoption(place: StackPlace, spec: DatabaseSpec, reach: AdoptionReach): string {
  const s = `--stack ${quote(place.stack)}`;
  const names = managedNames(place.component);
  const file = `${place.component}-import.json`;
  const targets = [urnOf(place, PROVIDER_TYPE, names.provider)];
  // The mail host's own PostgreSQL gets the admin password over SSH first (MailDatabase).
  if (reach.dbHost === undefined)
    targets.push(urnOf(place, "command:remote:Command", `${place.component}-admin-password`));
  const tunnel =
    reach.dbHost === undefined
      ? [
          "",
          "# 3. The import does not run the program, so nothing opens the tunnel: open it by hand,",
          "#    in a second terminal, and leave it open until step 4 is done (sshd allows exactly this forward).",
          `ssh -N -L 127.0.0.1:${reach.tunnelPort}:127.0.0.1:${reach.dbPort} -p ${reach.ssh.port} ${quote(`${reach.ssh.user}@${reach.ssh.host}`)}`,
        ]
      : ["", `# 3. No tunnel: the provider connects to ${reach.dbHost}:${reach.dbPort} itself.`];
  return [
    `# Adopting the mail database of stack ${place.stack} into managed mode: ${spec.database} and its roles`,
    `# ${[spec.owner, ...spec.lookupRoles.map((r) => r.role)].join(", ")} exist already (roles.sql, an old server, preprovisioned mode).`,
    "# Mail keeps flowing at every step; nothing in PostgreSQL changes before step 5.",
    "",
    "# 1. Managed mode and its admin password (skip what is set already).",
    `pulumi config set ${s} mailstack:dbMode managed`,
    `pulumi config set ${s} --secret mailstack:dbAdminPassword`,
    "",
    "# 2. Only the provider (and the admin password): a full up would CREATE the roles and fail.",
    `pulumi up ${s} ${targets.map((t) => `--target ${quote(t)}`).join(" ")}`,
    ...tunnel,
    "",
    `# 4. Import the roles and the database (IDs: their names in PostgreSQL), unprotected as the stack declares them.`,
    `cat > ${file} <<'EOF'`,
    renderImportFile(place, spec).trimEnd(),
    "EOF",
    `pulumi import ${s} --file ${file} --protect=false --generate-code=false`,
    "",
    "# 5. Close the tunnel, look, apply: updates of the roles and the database to the spec, the grants",
    "#    created over the privileges the lookups already have, and the preprovisioned check and grants",
    "#    forgotten. No delete of a role or of the database may appear.",
    `pulumi preview --diff ${s}`,
    `pulumi up ${s}`,
    "",
  ].join("\n");
}
