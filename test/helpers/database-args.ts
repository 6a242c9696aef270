// The arguments a MailDatabase under mocks needs besides its mode: a host, one
// domain, no accounts. Pass the @pulumi/pulumi the test imported after setup().
import type * as pulumiType from "@pulumi/pulumi";
import type { HostOs } from "../../src/concerns/host/settings";

export function databaseArgs(pulumi: typeof pulumiType, os: HostOs) {
  return {
    connection: { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
    os,
    domains: [{ name: "tlabs.team", authType: "local" as const, active: true }],
    accounts: {
      users: [],
      aliases: [],
      removed: "disable" as const,
      passwordHashes: pulumi.secret<Record<string, string>>({}),
    },
  };
}
