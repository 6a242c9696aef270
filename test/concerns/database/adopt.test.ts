// Adoption (issue 17, item 4): the commands `npm run db-adopt` prints for the
// production stack file name the resources the program really registers. The
// whole stack is built from Pulumi.prod.yaml under mocks, as stack "prod", and
// every import's type, name, URN and ID is checked against what the mock
// engine received; the IDs against the spec. test/concerns/database/adopt-pg.test.ts
// checks the same IDs against a real PostgreSQL provisioned by roles.sql.
//
// What only the real provider can confirm: that it reads a role and a database
// back from these IDs, and that the `up` after the import plans no replacement.

import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { adoptionFor, projectName } from "../../../scripts/db-adopt";
import { componentUrn, urnOf } from "../../../src/concerns/database/adopt";
import { DATABASE_SPEC } from "../../../src/concerns/database/spec";
import { ROOT } from "../../../src/core/template";
import { MAILSTACK_TYPE } from "../../../src/mailstack";
import { flush, registrations, resources, settle, setup, urns } from "../../helpers/mocks";
import { privateKeyPem, stackFileSettings, standInValues } from "../../helpers/stack-files";

setup(() => "debian 12 sysv\n", "prod");
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const SETTINGS = stackFileSettings("Pulumi.prod.yaml");

/** The prod stack file as `pulumi config --json` prints it: plain values, secrets by name only. */
function configJson(): Record<string, { value?: string; secret: boolean }> {
  return Object.fromEntries(
    Object.entries(SETTINGS).map(([k, v]) => {
      const secret = typeof v === "object" && v !== null && "secure" in v;
      return [k, secret ? { secret } : { value: typeof v === "string" ? v : JSON.stringify(v), secret }];
    }),
  );
}

/**
 * A real URN as the SDK's mock monitor writes it: the mock keeps only the
 * parent's own type before the resource's, where the engine keeps the whole
 * chain (the sandbox's export below has it: MailStack$MailDatabase$...).
 */
function mockForm(urn: string): string {
  const [stack, project, chain = "", name] = urn.split("::");
  return [stack, project, chain.split("$").slice(-2).join("$"), name].join("::");
}

let printed: string;
/** The import file inside the printed commands. */
let importFile: {
  nameTable: Record<string, string>;
  resources: { type: string; name: string; id: string; parent: string; provider: string }[];
};

beforeAll(async () => {
  const pulumi: typeof pulumiType = await import("@pulumi/pulumi");
  const { parseConfig } = await import("../../../src/config");
  const { MAILSTACK_NAME, MailStack } = await import("../../../src/mailstack");
  const values = standInValues(SETTINGS, {
    sshKey: KEY,
    passwordHash: "{ARGON2ID}$x",
    dkimKey: privateKeyPem("rsa"),
  });
  const config = parseConfig({ values, secretKeys: new Set(Object.keys(values)) });
  const stack = new MailStack(MAILSTACK_NAME, {
    config,
    privateKey: pulumi.secret(KEY),
    tunnel: async () => {},
  });
  await settle(stack.versions);
  await flush();
  printed = adoptionFor("prod", configJson(), projectName());
  importFile = JSON.parse(/<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(printed)?.[1] ?? "{}");
});

describe("npm run db-adopt for the prod stack", () => {
  it("imports the spec's roles and database by their names, the provider's import IDs", () => {
    expect(importFile.resources.map((r) => r.id)).toEqual([
      DATABASE_SPEC.owner,
      ...DATABASE_SPEC.lookupRoles.map((r) => r.role),
      DATABASE_SPEC.database,
    ]);
  });

  it("names each import as the program registers it: type, name, inputs' name, parent and provider", () => {
    expect(importFile.resources.length).toBe(4);
    for (const r of importFile.resources) {
      const registered = resources.get(r.name);
      expect(registered?.type, r.name).toBe(r.type);
      expect(registered?.inputs.name, r.name).toBe(r.id);
      expect(urns.get(r.parent), r.name).toBe(mockForm(importFile.nameTable[r.parent] ?? ""));
      expect(registrations.get(r.name)?.provider, r.name).toBe(
        mockForm(importFile.nameTable[r.provider] ?? ""),
      );
    }
    // Every role and the database the stack makes is imported: nothing is left to CREATE.
    const made = [...resources.values()]
      .filter(
        (r) => r.type === "postgresql:index/role:Role" || r.type === "postgresql:index/database:Database",
      )
      .map((r) => r.name);
    expect(importFile.resources.map((r) => r.name).sort()).toEqual(made.sort());
  });

  it("targets the provider and the admin password by their URNs, and tunnels to the configured host", () => {
    const targets = [...printed.matchAll(/--target '([^']+)'/g)].map((m) => mockForm(m[1] ?? ""));
    expect(targets).toEqual([urns.get("mail-db-provider"), urns.get("mail-db-admin-password")]);
    expect(printed).toContain("ssh -N -L 127.0.0.1:15432:127.0.0.1:5432 -p 22 root@mail.tlabs.team\n");
    expect(printed).toContain("pulumi import --stack prod --file mail-db-import.json --protect=false");
  });

  it("with an external server, no tunnel and no admin password on the mail host", () => {
    const external = adoptionFor(
      "prod",
      { ...configJson(), "mailstack:dbHost": { value: "db.tlabs.team", secret: false } },
      projectName(),
    );
    expect(external).not.toContain("ssh -N");
    expect(external).not.toContain("admin-password");
    expect(external).toContain("db.tlabs.team:5432");
  });

  it("refuses a config it cannot use, naming the key", () => {
    expect(() =>
      adoptionFor(
        "prod",
        { ...configJson(), "mailstack:dbTunnelPort": { value: "99999", secret: false } },
        "mailstack",
      ),
    ).toThrow(/mailstack:dbTunnelPort/);
  });
});

describe("the URNs are the engine's", () => {
  it("match a real deployment's: the sandbox's export (test/helpers/fixtures/audit/export.json)", () => {
    const exported = JSON.parse(
      fs.readFileSync(path.join(ROOT, "test/helpers/fixtures/audit/export.json"), "utf8"),
    ) as { deployment: { resources: { urn: string }[] } };
    const real = new Set(exported.deployment.resources.map((r) => r.urn));
    const place = {
      stack: "sandbox",
      project: projectName(),
      parentTypes: [MAILSTACK_TYPE],
      component: "mail-db",
    };
    expect(real).toContain(componentUrn(place));
    expect(real).toContain(urnOf(place, "command:remote:Command", "mail-db-server"));
  });
});
