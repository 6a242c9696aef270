// MailDatabase's other two shapes at the Pulumi boundary: managed mode against
// an external server (no tunnel, TLS required) and preprovisioned mode (no
// @pulumi/postgresql resource at all; a check, then migrations and grants).
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { databaseArgs } from "../../helpers/database-args";
import { flush, resources, setup } from "../../helpers/mocks";

setup();
let pulumi: typeof pulumiType;
const tunnels: unknown[] = [];

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { MailDatabase } = await import("../../../src/concerns/database/component");
  const common = databaseArgs(pulumi, "ubuntu2204");
  const tunnel = async (args: unknown) => {
    tunnels.push(args);
  };
  new MailDatabase("ext", {
    ...common,
    tunnel,
    config: {
      mode: "managed",
      host: "db.tlabs.team",
      port: 6432,
      tunnelPort: 15432,
      adminUser: "dba",
      adminPassword: pulumi.secret("pw"),
    },
  });
  new MailDatabase("pre", {
    ...common,
    tunnel,
    config: { mode: "preprovisioned", port: 5432, tunnelPort: 15432, adminUser: "postgres" },
  });
  await flush();
});

describe("managed mode with an external server", () => {
  it("connects straight to it over TLS, with no tunnel and no password change on the mail host", () => {
    expect(resources.get("ext-provider")?.inputs).toMatchObject({
      host: "db.tlabs.team",
      port: "6432",
      username: "dba",
      sslmode: "require",
    });
    expect(tunnels).toEqual([]);
    expect(resources.has("ext-admin-password")).toBe(false);
  });

  it("uses the OS's PostgreSQL paths: 14 on Ubuntu 22.04", () => {
    expect(String(resources.get("ext-settings-apply")?.inputs.stdin)).toContain(
      "file /etc/postgresql/14/main/pg_hba.conf postgres postgres 0640",
    );
  });
});

describe("preprovisioned mode", () => {
  it("checks the DBA's roles instead of making them", () => {
    const names = [...resources.keys()].filter((n) => n.startsWith("pre-"));
    expect(names.some((n) => resources.get(n)?.type.startsWith("postgresql:"))).toBe(false);
    expect(String(resources.get("pre-roles-check")?.inputs.create)).toContain("roles.sql");
    expect(String(resources.get("pre-grants")?.inputs.stdin)).toContain(
      "GRANT SELECT (id, domain_id, email, enabled) ON virtual_users TO postfix_lookup;",
    );
  });
});
