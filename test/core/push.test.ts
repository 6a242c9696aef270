// ConfigPush at the Pulumi boundary: what the engine receives for plain and
// secret pushes.
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { flush, resources, setup } from "../helpers/mocks";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

setup();

let pulumi: typeof pulumiType;

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { ConfigPush } = await import("../../src/core/push");
  const connection = { host: "203.0.113.25", port: 22, user: "deploy", privateKey: pulumi.secret("KEY") };
  new ConfigPush("plain", {
    connection,
    files: [{ path: "/etc/plain.conf", content: "a = 1\n" }],
    check: ["plaincheck"],
    reload: { service: "plaind", action: "restart" },
  });
  new ConfigPush("secret", {
    connection,
    files: [{ path: "/etc/plain/secret.conf", content: pulumi.secret("password = hunter2\n"), secret: true }],
  });
  await flush();
});

describe("ConfigPush", () => {
  it("sends a plain push's files as readable stdin, run through sudo for a non-root login", () => {
    const apply = resources.get("plain-apply");
    expect(apply?.type).toBe("command:remote:Command");
    expect(apply?.inputs.stdin).toBe(
      "push plain\ncheck plaincheck\nreload svc restart plaind\nfile /etc/plain.conf root root 0644 1\na = 1\nend\n",
    );
    expect(String(apply?.inputs.create)).toMatch(/^sudo -n bash -c '/);
    expect(apply?.inputs.addPreviousOutputInEnv).toBe(false);
  });

  it("sends a secret push's stdin as a secret, with a private mode, and keeps it out of the command", () => {
    const apply = resources.get("secret-apply");
    const stdin = apply?.inputs.stdin as Record<string, unknown>;
    expect(stdin[SECRET_SIG]).toBeDefined();
    expect(String(stdin.value)).toContain("file /etc/plain/secret.conf root root 0600 1\n");
    expect(String(apply?.inputs.create)).not.toContain("hunter2");
  });
});
