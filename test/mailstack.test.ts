import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { flush, parents, recordParents, resources, settle, setup } from "./mocks";

// Pulumi's wire marker for a secret value.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";

setup((name) =>
  name.endsWith("-packages") ? "ufw=0.36.2-1\nopenssh-server=1:9.2p1-2+deb12u3\n" : "debian 12 sysv\n",
);

// Imported after the mocks are set, as Pulumi requires.
let stack: import("../components/mailstack").MailStack;
let pulumi: typeof pulumiType;

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { parseConfig } = await import("../config");
  const { MailStack } = await import("../components/mailstack");
  const config = parseConfig({
    values: {
      host: "203.0.113.25",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      sshPrivateKey: KEY,
      sshPort: "2222",
      domains: JSON.stringify([{ name: "tlabs.team" }, { name: "tlabs.dev" }]),
    },
    secretKeys: new Set(["sshPrivateKey"]),
  });
  stack = new MailStack(
    "mail",
    { config, privateKey: pulumi.secret(KEY) },
    { transformations: [recordParents] },
  );
  await settle(stack.versions);
  await flush();
});

const pushes = ["identity", "timezone", "upgrades", "sshd", "firewall"];

describe("MailStack", () => {
  it("registers one component per concern, each named after its parent", () => {
    expect(resources.get("mail-host")?.type).toBe("mailstack:host:MailHost");
    for (const p of pushes) {
      expect(resources.get(`mail-host-${p}`)?.type).toBe("mailstack:push:ConfigPush");
      expect(parents.get(`mail-host-${p}`)).toBe("mail-host");
      expect(resources.get(`mail-host-${p}-apply`)?.type).toBe("command:remote:Command");
      expect(parents.get(`mail-host-${p}-apply`)).toBe(`mail-host-${p}`);
    }
    expect(parents.get("mail-host")).toBe("mail");
    expect(parents.get("mail-host-facts")).toBe("mail-host");
  });

  it("every remote command gets the key only as a secret connection, never in a command or stdin", () => {
    const commands = [...resources.values()].filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBe(pushes.length + 2);
    for (const c of commands) {
      const text = JSON.stringify({ create: c.inputs.create, stdin: c.inputs.stdin });
      expect(text).not.toContain("SECRET-KEY-MATERIAL");
      expect(c.inputs.addPreviousOutputInEnv).toBe(false);
      // The engine receives the whole connection wrapped as a secret.
      const wrapped = c.inputs.connection as Record<string, unknown>;
      expect(wrapped[SECRET_SIG]).toBe(SECRET_VALUE);
      const conn = wrapped.value as Record<string, unknown>;
      expect(conn.host).toBe("203.0.113.25");
      expect(conn.port).toBe(2222);
      expect(conn.privateKey).toBe(KEY);
    }
  });

  it("opens exactly the mission's ports plus SSH in the firewall", () => {
    const stdin = resources.get("mail-host-firewall-apply")?.inputs.stdin as string;
    const rules = stdin
      .split("\n")
      .filter((l) => l.startsWith("allow "))
      .map((l) => l.split(" ")[1]);
    expect(rules).toEqual([
      "25/tcp",
      "80/tcp",
      "443/tcp",
      "465/tcp",
      "587/tcp",
      "993/tcp",
      "995/tcp",
      "2222/tcp",
    ]);
    expect(stack.openPorts.map((p) => p.port)).toEqual([25, 80, 443, 465, 587, 993, 995, 2222]);
  });

  it("checks sshd with sshd -t and listens on the configured port", () => {
    const stdin = resources.get("mail-host-sshd-apply")?.inputs.stdin as string;
    expect(stdin).toContain("check sshd -t\n");
    expect(stdin).toContain("reload svc reload ssh\n");
    expect(stdin).toContain("\nPort 2222\n");
    expect(stdin).toContain("\nPasswordAuthentication no\n");
  });

  it("audit outputs carry versions and no secret", async () => {
    const versions = await settle(stack.versions);
    expect(versions.value).toEqual({ ufw: "0.36.2-1", "openssh-server": "1:9.2p1-2+deb12u3" });
    expect(versions.secret).toBe(false);
    const os = await settle(stack.os);
    expect(os).toEqual({ value: "debian 12 sysv", secret: false });
    expect(stack.domains).toEqual(["tlabs.team", "tlabs.dev"]);
    expect(JSON.stringify([stack.host, stack.hostname, stack.openPorts, stack.domains])).not.toContain(
      "PRIVATE",
    );
  });
});
