// Order in the config (README, "Order in the config"): the stack is built
// twice under mocks, from one config and from the same config with its lists
// (and objects) in reverse order, and every registered resource must come out
// with the same name, type, inputs, parent and dependencies, so `pulumi
// preview` shows no change. The one order that means something, the first
// domain's (the default backup bucket), is pinned too.
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { dependsOn, flush, parents, recordParents, resources, settle, setup } from "./helpers/mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
const ZONE = (n: number) => n.toString(16).padStart(32, "0");
setup(() => "debian 12 sysv\n");

/** The lists and objects of the config, as JSON values. */
interface Lists {
  readonly domains: readonly Record<string, unknown>[];
  readonly users: readonly {
    readonly address: string;
    readonly quota?: string;
    readonly enabled?: boolean;
    readonly sendAs?: readonly string[];
  }[];
  readonly passwordHashes: Readonly<Record<string, string>>;
  readonly aliases: readonly Record<string, string>[];
  readonly dkim: Readonly<Record<string, { readonly selectors: readonly unknown[]; readonly sign: string }>>;
  readonly cloudflareZoneIds: Readonly<Record<string, string>>;
  readonly fail2ban: { readonly allowlist: readonly string[] };
}

/** A config with every list order could leak from: the first domain is not the first by name. */
const GIVEN: Lists = {
  domains: [
    { name: "tlabs.team" },
    { name: "corp.team", authType: "ldap", ldapBaseDn: "ou=people,dc=corp,dc=team" },
    { name: "old.team", active: false },
    { name: "new.dev" },
  ],
  users: [
    { address: "alice@tlabs.team", quota: "2G", sendAs: ["sales@tlabs.team", "@new.dev", "info@tlabs.team"] },
    { address: "bob@corp.team" },
    { address: "carol@new.dev", enabled: false },
    { address: "dave@tlabs.team", sendAs: ["sales@tlabs.team", "billing@tlabs.team"] },
  ],
  passwordHashes: { "alice@tlabs.team": HASH, "carol@new.dev": HASH, "dave@tlabs.team": HASH },
  aliases: [
    { source: "sales@tlabs.team", destination: "alice@tlabs.team" },
    { source: "sales@tlabs.team", destination: "dave@tlabs.team" },
    { source: "@new.dev", destination: "alice@tlabs.team" },
    { source: "postmaster@corp.team", destination: "bob@corp.team" },
    { source: "info@tlabs.team", destination: "someone@example.net" },
  ],
  dkim: {
    "tlabs.team": {
      selectors: [{ name: "s2026b" }, { name: "s2026a", algorithm: "ed25519" }],
      sign: "s2026a",
    },
    "new.dev": { selectors: [{ name: "k2" }, { name: "k1" }], sign: "k2" },
  },
  cloudflareZoneIds: { "tlabs.team": ZONE(1), "corp.team": ZONE(2), "new.dev": ZONE(3) },
  fail2ban: { allowlist: ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"] },
};

/** Every list and object of `c` in reverse order; the first domain stays first when `keepFirst`. */
function reversed(c: Lists, keepFirst: boolean): Lists {
  const rev = <T>(xs: readonly T[]): T[] => [...xs].reverse();
  const revObject = <T>(o: Readonly<Record<string, T>>): Record<string, T> =>
    Object.fromEntries(rev(Object.entries(o)));
  const [first, ...rest] = c.domains;
  return {
    domains: keepFirst && first ? [first, ...rev(rest)] : rev(c.domains),
    users: rev(c.users).map((u) => (u.sendAs ? { ...u, sendAs: rev(u.sendAs) } : u)),
    passwordHashes: revObject(c.passwordHashes),
    aliases: rev(c.aliases),
    dkim: revObject(
      Object.fromEntries(Object.entries(c.dkim).map(([d, e]) => [d, { ...e, selectors: rev(e.selectors) }])),
    ),
    cloudflareZoneIds: revObject(c.cloudflareZoneIds),
    fail2ban: { allowlist: rev(c.fail2ban.allowlist) },
  };
}

/** What the engine would compare: each resource's type, inputs, parent and dependencies, by name. */
type Program = Map<string, unknown>;

let pulumi: typeof pulumiType;
let build: (lists: Lists, extra?: Record<string, string>) => Promise<Program>;

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { parseConfig } = await import("../src/config");
  const { MailStack } = await import("../src/mailstack");
  const secretKeys = new Set([
    "sshPrivateKey",
    "dbAdminPassword",
    "passwordHashes",
    "ldapBindPassword",
    "cloudflareApiToken",
    "minioRootUser",
    "minioRootPassword",
    "backupPassword",
  ]);
  build = async (lists, extra = {}) => {
    const config = parseConfig({
      values: {
        host: "203.0.113.25",
        hostname: "mail.tlabs.team",
        adminEmail: "postmaster@tlabs.team",
        sshPrivateKey: KEY,
        dbAdminPassword: "ADMIN-PASSWORD",
        ldapUri: "ldaps://ldap.corp.team",
        ldapBindDn: "cn=mailserver,dc=corp,dc=team",
        ldapBindPassword: "BIND-PASSWORD",
        dnsProvider: "cloudflare",
        cloudflareApiToken: "CLOUDFLARE-API-TOKEN-0123456789",
        minioEndpoint: "https://minio.tlabs.team:9000",
        minioRootUser: "MINIO-ROOT-USER",
        minioRootPassword: "MINIO-ROOT-PASSWORD",
        backupPassword: "BACKUP-RESTIC-PASSWORD",
        ...Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, JSON.stringify(v)])),
        ...extra,
      },
      secretKeys,
    });
    resources.clear();
    parents.clear();
    dependsOn.clear();
    const stack = new MailStack(
      "mail",
      {
        config,
        privateKey: pulumi.secret(KEY),
        ldapBindPassword: pulumi.secret("BIND-PASSWORD"),
        tunnel: async () => {},
      },
      { transformations: [recordParents] },
    );
    await settle(stack.versions);
    await flush();
    return new Map(
      [...resources.values()].map((r) => [
        r.name,
        {
          type: r.type,
          inputs: r.inputs,
          parent: parents.get(r.name),
          // The engine does not care in which order dependencies are listed.
          dependsOn: [...(dependsOn.get(r.name) ?? [])].sort(),
        },
      ]),
    );
  };
});

/** The names of the resources that differ between `a` and `b`, or exist in one only, sorted. */
function changed(a: Program, b: Program): string[] {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].filter((n) => JSON.stringify(a.get(n)) !== JSON.stringify(b.get(n))).sort();
}

describe("order in the config", () => {
  let given: Program;
  beforeAll(async () => {
    given = await build(GIVEN);
  });

  it("builds a program with every resource order could reach", () => {
    for (const name of [
      "mail-web-config-apply",
      "mail-acme-issue",
      "mail-rspamd-dkim-keys-apply",
      "mail-rspamd-config-apply",
      "mail-health-config-apply",
      "mail-db-accounts",
      "mail-db-passwords",
      "mail-dovecot-config-apply",
      "mail-fail2ban-config-apply",
      "mail-dkim-new.dev-k1",
      "mail-dns-mx-tlabs.team",
      "mail-storage-bucket",
    ]) {
      expect(given.has(name), name).toBe(true);
    }
    expect(given.size).toBeGreaterThan(100);
  });

  it("reversing every list and object, the first domain kept first, changes no resource", async () => {
    const other = await build(reversed(GIVEN, true));
    expect(changed(given, other)).toEqual([]);
    expect([...other.keys()].sort()).toEqual([...given.keys()].sort());
  });

  it("with mailstack:minioBucket set, reversing the domains too changes no resource", async () => {
    const bucket = { minioBucket: "mail-tlabs-team" };
    const a = await build(GIVEN, bucket);
    const b = await build(reversed(GIVEN, false), bucket);
    expect(changed(a, b)).toEqual([]);
    expect(changed(a, given)).toEqual([]);
  });

  it("without it, the first domain names the default bucket, and nothing else", async () => {
    const other = await build(reversed(GIVEN, false));
    // The bucket and what names it: its settings, and the repository URL in the backup's secrets.
    expect(changed(given, other)).toEqual([
      "mail-backup-secrets-apply",
      "mail-storage-bucket",
      "mail-storage-lifecycle",
      "mail-storage-policy",
      "mail-storage-versioning",
    ]);
  });
});
