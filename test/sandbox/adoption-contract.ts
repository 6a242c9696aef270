// Adoption (issue 17, item 4) against the sandbox's preprovisioned database:
// scripts/sandbox.sh plays the DBA and runs roles.sql there, which is exactly
// what managed mode would adopt. The import IDs `npm run db-adopt` prints for
// the sandbox stack must name roles and a database that exist on the host,
// owned as the stack declares, and its tunnel must point at the sandbox's SSH.
// Nothing is imported and nothing on the host changes: it only reads
// pg_roles and pg_database. test/sandbox/e2e.test.ts calls registerAdoptionTests.
import { expect, it } from "vitest";
import { adoptionFor, projectName } from "../../scripts/db-adopt";
import { DATABASE_SPEC } from "../../src/concerns/database/spec";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

/** A stack file's `config:` map as `pulumi config --json` prints it; encrypted leaves count as secrets. */
function asConfigJson(config: Record<string, unknown>): Record<string, { value?: string; secret: boolean }> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) =>
      typeof v === "object" && v !== null && "secure" in v
        ? [k, { secret: true }]
        : [k, { value: typeof v === "string" ? v : JSON.stringify(v), secret: false }],
    ),
  );
}

/** `config` is the sandbox stack's config (sandboxStackSettings().config, with its host). */
export function registerAdoptionTests(ssh: SandboxSsh, config: Record<string, unknown>): void {
  it("adoption: the import IDs npm run db-adopt prints for the sandbox name the roles and the database on its host", () => {
    const printed = adoptionFor("sandbox", asConfigJson(config), projectName());
    const file = JSON.parse(/<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(printed)?.[1] ?? "{}") as {
      resources: { type: string; id: string }[];
    };
    const ids = (type: string) => file.resources.filter((r) => r.type === type).map((r) => r.id);
    const roles = ids("postgresql:index/role:Role");
    expect(roles).toEqual([DATABASE_SPEC.owner, ...DATABASE_SPEC.lookupRoles.map((r) => r.role)]);
    const psql = (query: string): string => {
      const r = ssh("cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d postgres", `${query}\n`);
      if (r.code !== 0) throw new Error(`psql on the sandbox: exit ${r.code}\n${r.out}${r.err}`);
      return r.out.trim();
    };
    const list = roles.map((r) => `'${r}'`).join(", ");
    expect(
      psql(`SELECT rolname FROM pg_roles WHERE rolname IN (${list}) AND rolcanlogin ORDER BY 1`).split("\n"),
    ).toEqual([...roles].sort());
    const [database] = ids("postgresql:index/database:Database");
    expect(
      psql(`SELECT datname || ' ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${database}'`),
    ).toBe(`${DATABASE_SPEC.database} ${DATABASE_SPEC.owner}`);
    // The tunnel of step 3 goes to the sandbox's own SSH.
    const host = String(config["mailstack:host"]);
    expect(printed).toMatch(
      new RegExp(` -p ${String(config["mailstack:sshPort"] ?? 22)} [a-z_]+@${host.replace(/\./g, "\\.")}\\n`),
    );
  });
}
