import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as pulumi from "@pulumi/pulumi";
import * as jsyaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { aliasLoops } from "../../src/concerns/database/settings";
import { dkimKeyProblem, dkimPrivateKeyProblems } from "../../src/concerns/dkim/settings";
import {
  CONFIG_KEYS,
  ConfigError,
  parseConfig,
  readAcmeCaBundle,
  readLdapBindPassword,
  readPrivateKey,
  type StackConfig,
} from "../../src/config";
import type { KeySpec, RawConfig } from "../../src/core/settings";
import { addressProblem, domainProblem } from "../../src/core/validators";
import { settle } from "../helpers/mocks";
import { privateKeyPem, stackFileSettings, standInValues } from "../helpers/stack-files";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
const STORAGE_SECRETS = ["minioRootUser", "minioRootPassword", "s3AccessKeyId", "s3SecretAccessKey"];
const SECRETS = [
  "sshPrivateKey",
  "dbAdminPassword",
  "passwordHashes",
  "ldapBindPassword",
  "dkimPrivateKeys",
  "backupPassword",
  ...STORAGE_SECRETS,
];

// Private keys made here, PEM: the DKIM keys accepted, and some to refuse.
const pem = privateKeyPem;
const RSA = pem("rsa");
const ED25519 = pem("ed25519");

function raw(values: Record<string, string | undefined>, secretKeys = SECRETS): RawConfig {
  const base: Record<string, string> = {
    host: "203.0.113.25",
    hostname: "mail.tlabs.team",
    adminEmail: "postmaster@tlabs.team",
    sshPrivateKey: KEY,
    dbAdminPassword: "admin-pw",
    domains: JSON.stringify([
      { name: "tlabs.team" },
      { name: "corp.team", authType: "ldap", ldapBaseDn: "ou=people,dc=corp,dc=team" },
    ]),
    users: JSON.stringify([
      { address: "alice@tlabs.team", quota: "2G", sendAs: ["sales@tlabs.team"] },
      { address: "bob@corp.team" },
    ]),
    passwordHashes: JSON.stringify({ "alice@tlabs.team": HASH }),
    aliases: JSON.stringify([
      { source: "sales@tlabs.team", destination: "alice@tlabs.team" },
      { source: "@corp.team", destination: "bob@corp.team" },
    ]),
    ldapUri: "ldaps://ldap.corp.team",
    ldapBindDn: "cn=mailserver,dc=corp,dc=team",
    ldapBindPassword: "bind-pw",
    // storageMode minio, the default.
    minioEndpoint: "https://minio.tlabs.team:9000",
    minioRootUser: "minio-admin",
    minioRootPassword: "minio-admin-pw",
    backupPassword: "backup-restic-password",
  };
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return { values: base, secretKeys: new Set(secretKeys) };
}

function problems(values: Record<string, string | undefined>, secretKeys?: string[]): string[] {
  try {
    parseConfig(raw(values, secretKeys));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error("config was accepted");
}

describe("parseConfig accepts good config", () => {
  it("applies defaults", () => {
    const cfg = parseConfig(raw({}));
    expect(cfg.ssh).toMatchObject({ host: "203.0.113.25", port: 22, user: "root" });
    expect(cfg.timezone).toBe("UTC");
    expect(cfg.unattendedUpgrades).toBe(true);
    // Sorted by name, whatever the order in config.
    expect(cfg.domains).toEqual([
      { name: "corp.team", authType: "ldap", ldapBaseDn: "ou=people,dc=corp,dc=team", active: true },
      { name: "tlabs.team", authType: "local", active: true },
    ]);
    expect(cfg.os).toBe("debian12");
    expect(cfg.database).toMatchObject({
      mode: "managed",
      port: 5432,
      tunnelPort: 15432,
      adminUser: "postgres",
    });
    expect(cfg.database.host).toBeUndefined();
    expect(cfg.accounts.users).toEqual([
      { address: "alice@tlabs.team", quotaBytes: 2 * 2 ** 30, enabled: true, sendAs: ["sales@tlabs.team"] },
      { address: "bob@corp.team", quotaBytes: 0, enabled: true, sendAs: [] },
    ]);
    expect(cfg.accounts.aliases).toHaveLength(2);
    expect(cfg.accounts.removed).toBe("disable");
    expect(cfg.ldap).toMatchObject({
      uris: ["ldaps://ldap.corp.team"],
      bindDn: "cn=mailserver,dc=corp,dc=team",
      fallback: "local-if-exists",
    });
  });

  it("LDAP: keeps the password a secret, takes a path instead, several URIs and fallback never", async () => {
    const pulumi = await import("@pulumi/pulumi");
    const cfg = parseConfig(raw({}));
    const pw = cfg.ldap?.bindPassword;
    expect(pw && "secret" in pw && pulumi.Output.isInstance(pw.secret)).toBe(true);
    if (pw && "secret" in pw) expect(await pulumi.isSecret(pw.secret)).toBe(true);
    const byPath = parseConfig(
      raw({
        ldapBindPassword: undefined,
        ldapBindPasswordPath: "~/.cache/ldap-bind-pw",
        ldapUri: "ldap://a.corp.team ldaps://b.corp.team:636",
        ldapFallback: "never",
      }),
    );
    expect(byPath.ldap).toMatchObject({
      uris: ["ldap://a.corp.team", "ldaps://b.corp.team:636"],
      bindPassword: { path: "~/.cache/ldap-bind-pw" },
      fallback: "never",
    });
  });

  it("LDAP settings are not needed without an ldap domain", () => {
    const cfg = parseConfig(
      raw({
        domains: '[{"name":"tlabs.team"},{"name":"corp.team"}]',
        ldapUri: undefined,
        ldapBindDn: undefined,
        ldapBindPassword: undefined,
        passwordHashes: JSON.stringify({ "alice@tlabs.team": HASH, "bob@corp.team": HASH }),
      }),
    );
    expect(cfg.ldap).toBeUndefined();
  });

  it("treats Pulumi.yaml's defaults as unset", () => {
    const cfg = parseConfig(
      raw(
        {
          dbMode: "preprovisioned",
          dbAdminPassword: "",
          passwordHashes: "{}",
          users: "[]",
          ldapFallback: "local-if-exists",
        },
        ["sshPrivateKey", "ldapBindPassword", ...STORAGE_SECRETS, "backupPassword"],
      ),
    );
    expect(cfg.database.mode).toBe("preprovisioned");
    expect(cfg.accounts.users).toEqual([]);
  });

  it("keeps a legitimate false and explicit values", () => {
    const cfg = parseConfig(
      raw({ unattendedUpgrades: "false", sshPort: "2222", timezone: "Asia/Seoul", host: "2001:db8::25" }),
    );
    expect(cfg.unattendedUpgrades).toBe(false);
    expect(cfg.ssh.port).toBe(2222);
    expect(cfg.timezone).toBe("Asia/Seoul");
    expect(cfg.ssh.host).toBe("2001:db8::25");
  });

  it("accepts a key path instead of the key", () => {
    const cfg = parseConfig(
      raw({ sshPrivateKey: undefined, sshPrivateKeyPath: "~/.ssh/id_ed25519" }, [
        "dbAdminPassword",
        "passwordHashes",
        "ldapBindPassword",
        ...STORAGE_SECRETS,
        "backupPassword",
      ]),
    );
    expect(cfg.ssh.privateKey).toEqual({ path: "~/.ssh/id_ed25519" });
  });
});

/** mailstack:dkim with one entry, for tlabs.team. */
function dkim(entry: Record<string, unknown>): string {
  return JSON.stringify({ "tlabs.team": entry });
}

// Each bad input must fail, name its key and say how to fix it.
const BAD: [string, Record<string, string | undefined>, string, string[]?][] = [
  ["bad domain: single label", { domains: '[{"name":"localhost"}]' }, "mailstack:domains"],
  ["bad domain: underscore", { domains: '[{"name":"mail_box.team"}]' }, "mailstack:domains"],
  ["bad domain: leading hyphen", { domains: '[{"name":"-tlabs.team"}]' }, "mailstack:domains"],
  [
    "bad domain: label over 63",
    { domains: JSON.stringify([{ name: `${"a".repeat(64)}.team` }]) },
    "mailstack:domains",
  ],
  ["bad domain: trailing dot", { domains: '[{"name":"tlabs.team."}]' }, "mailstack:domains"],
  ["bad domain: upper case", { domains: '[{"name":"TLabs.team"}]' }, "mailstack:domains"],
  ["bad domain: numeric TLD", { domains: '[{"name":"10.0.0.1"}]' }, "mailstack:domains"],
  ["duplicate domain", { domains: '[{"name":"tlabs.team"},{"name":"tlabs.team"}]' }, "listed twice"],
  ["empty domain list", { domains: "[]" }, "mailstack:domains"],
  ["domains not a list", { domains: "tlabs.team" }, "mailstack:domains"],
  ["domain entry without name", { domains: '[{"domain":"tlabs.team"}]' }, "mailstack:domains"],
  ["domain entry with unknown field", { domains: '[{"name":"tlabs.team","tpye":"x"}]' }, "unknown field"],
  ["missing domains", { domains: undefined }, "mailstack:domains is required"],
  ["bad address: no @", { adminEmail: "postmaster" }, "mailstack:adminEmail"],
  ["bad address: two @", { adminEmail: "a@b@tlabs.team" }, "mailstack:adminEmail"],
  ["bad address: space", { adminEmail: "post master@tlabs.team" }, "mailstack:adminEmail"],
  ["bad address: bad domain", { adminEmail: "postmaster@tlabs" }, "mailstack:adminEmail"],
  ["port out of range: 0", { sshPort: "0" }, "mailstack:sshPort"],
  ["port out of range: 70000", { sshPort: "70000" }, "mailstack:sshPort"],
  ["port not a number", { sshPort: "ssh" }, "mailstack:sshPort"],
  ["port fractional", { sshPort: "22.5" }, "mailstack:sshPort"],
  ["ssh port collides with a mail port", { sshPort: "25" }, "collides"],
  ["unknown key", { sshport: "22" }, "did you mean mailstack:sshPort"],
  ["unknown key, far from any", { colour: "blue" }, "mailstack:colour is not a setting"],
  ["missing required secret", { sshPrivateKey: undefined }, "mailstack:sshPrivateKey is required"],
  ["secret stored in plain text", {}, "must be a secret", ["dbAdminPassword", "passwordHashes"]],
  ["secret that is not a key", { sshPrivateKey: "hunter2" }, "mailstack:sshPrivateKey"],
  ["both key and key path", { sshPrivateKeyPath: "/root/.ssh/id" }, "keep one"],
  ["relative key path", { sshPrivateKey: undefined, sshPrivateKeyPath: "id_ed25519" }, "absolute path"],
  ["missing host", { host: undefined }, "mailstack:host is required"],
  ["bad host", { host: "mail server" }, "mailstack:host"],
  ["bad IPv4 host", { host: "203.0.113.256" }, "mailstack:host"],
  ["bad IPv6 host", { host: "2001:db8::zz" }, "mailstack:host"],
  ["hostname not fully qualified", { hostname: "mail" }, "mailstack:hostname"],
  ["bad time zone", { timezone: "Mars/Olympus" }, "mailstack:timezone"],
  ["bad boolean", { unattendedUpgrades: "yes" }, "mailstack:unattendedUpgrades"],
  [
    "sshd option overriding hardening",
    { sshdOptions: '{"PasswordAuthentication":"yes"}' },
    "manages for hardening",
  ],
  ["sshd option with a newline", { sshdOptions: '{"Banner":"a\\nPort 23"}' }, "single-line"],
  ["sshd option bad keyword", { sshdOptions: '{"Allow Users":"x"}' }, "not an sshd keyword"],
  ["unknown os", { os: "centos7" }, "mailstack:os"],
  ["unknown database mode", { dbMode: "external" }, "mailstack:dbMode"],
  [
    "managed mode without admin password",
    { dbAdminPassword: undefined },
    "mailstack:dbAdminPassword is required",
  ],
  ["database port out of range", { dbPort: "99999" }, "mailstack:dbPort"],
  ["bad external database host", { dbHost: "db host" }, "mailstack:dbHost"],
  [
    "ldap domain without base DN",
    { domains: '[{"name":"corp.team","authType":"ldap"}]' },
    "needs ldapBaseDn",
  ],
  [
    "unknown auth type",
    { domains: '[{"name":"corp.team","authType":"kerberos"}]' },
    "authType must be local or ldap",
  ],
  [
    "bad base DN",
    { domains: '[{"name":"corp.team","authType":"ldap","ldapBaseDn":"people"}]' },
    "is not a DN",
  ],
  [
    "user in a domain not served",
    { users: '[{"address":"eve@evil.example"}]' },
    "not in a domain of mailstack:domains",
  ],
  ["user address upper case", { users: '[{"address":"Alice@tlabs.team"}]' }, "upper-case"],
  ["duplicate user", { users: '[{"address":"bob@corp.team"},{"address":"bob@corp.team"}]' }, "listed twice"],
  ["bad quota", { users: '[{"address":"bob@corp.team","quota":"lots"}]' }, "is not a size"],
  [
    "user with unknown field",
    { users: '[{"address":"bob@corp.team","password":"x"}]' },
    'unknown field "password"',
  ],
  ["local user without a hash", { passwordHashes: "{}" }, "has no hash for alice@tlabs.team"],
  [
    "hash in a scheme Dovecot will not take",
    { passwordHashes: '{"alice@tlabs.team":"{PLAIN}secret"}' },
    "is not a Dovecot",
  ],
  [
    "hash for an unknown user",
    { passwordHashes: JSON.stringify({ "alice@tlabs.team": HASH, "zed@tlabs.team": HASH }) },
    "not in mailstack:users",
  ],
  [
    "hashes stored in plain text",
    {},
    "mailstack:passwordHashes is stored in plain text",
    ["sshPrivateKey", "dbAdminPassword"],
  ],
  [
    "alias source outside our domains",
    { aliases: '[{"source":"x@evil.example","destination":"bob@corp.team"}]' },
    "not in a domain",
  ],
  [
    "alias with a bad destination",
    { aliases: '[{"source":"x@tlabs.team","destination":"bob"}]' },
    "destination",
  ],
  [
    "an alias loop",
    {
      aliases: JSON.stringify([
        { source: "a@tlabs.team", destination: "b@tlabs.team" },
        { source: "b@tlabs.team", destination: "a@tlabs.team" },
      ]),
    },
    "mailstack:aliases has a loop, a@tlabs.team -> b@tlabs.team -> a@tlabs.team",
  ],
  [
    "an alias loop through a catch-all",
    {
      aliases: JSON.stringify([
        { source: "@corp.team", destination: "x@tlabs.team" },
        { source: "x@tlabs.team", destination: "nobody@corp.team" },
      ]),
    },
    "has a loop, nobody@corp.team -> x@tlabs.team -> nobody@corp.team",
  ],
  [
    "sendAs outside our domains",
    { users: '[{"address":"bob@corp.team","sendAs":["ceo@evil.example"]}]' },
    "sendAs",
  ],
  ["unknown removal policy", { removedAccounts: "archive" }, "mailstack:removedAccounts"],
  ["bad login name", { sshUser: "Root User" }, "mailstack:sshUser"],
  ["ldap domain without ldapUri", { ldapUri: undefined }, "mailstack:ldapUri is required"],
  ["ldapUri not ldap", { ldapUri: "https://ldap.corp.team" }, "not an ldap:// or ldaps:// URI"],
  ["ldapUri not a URI", { ldapUri: "ldap.corp.team" }, "mailstack:ldapUri"],
  ["ldapUri with a base DN", { ldapUri: "ldap://ldap.corp.team/dc=corp" }, "only scheme, host"],
  ["ldap domain without bind DN", { ldapBindDn: undefined }, "mailstack:ldapBindDn is required"],
  ["bind DN not a DN", { ldapBindDn: "mailserver" }, "mailstack:ldapBindDn"],
  [
    "ldap domain without bind password",
    { ldapBindPassword: undefined },
    "mailstack:ldapBindPassword is required (or mailstack:ldapBindPasswordPath)",
  ],
  ["bind password and path both", { ldapBindPasswordPath: "/etc/ldap-pw" }, "keep one"],
  [
    "relative bind password path",
    { ldapBindPassword: undefined, ldapBindPasswordPath: "ldap-pw" },
    "mailstack:ldapBindPasswordPath",
  ],
  [
    "bind password in plain text",
    {},
    "mailstack:ldapBindPassword is stored in plain text",
    ["sshPrivateKey", "dbAdminPassword", "passwordHashes"],
  ],
  ["unknown LDAP fallback", { ldapFallback: "always" }, "mailstack:ldapFallback"],
  ["dkim not an object", { dkim: '["tlabs.team"]' }, "mailstack:dkim is not an object"],
  [
    "dkim sign not a listed selector",
    { dkim: dkim({ selectors: [{ name: "s2026a" }], sign: "s2026b" }) },
    'mailstack:dkim tlabs.team: sign "s2026b" is not one of its selectors (s2026a)',
  ],
  ["dkim without sign", { dkim: dkim({ selectors: [{ name: "s2026a" }] }) }, 'has no "sign"'],
  [
    "dkim selector name upper case",
    { dkim: dkim({ selectors: [{ name: "S2026a" }], sign: "S2026a" }) },
    'name "S2026a" is not a DNS label',
  ],
  [
    "dkim selector name with a dot",
    { dkim: dkim({ selectors: [{ name: "s.2026" }], sign: "s.2026" }) },
    "is not a DNS label",
  ],
  [
    "dkim selector listed twice",
    { dkim: dkim({ selectors: [{ name: "s2026a" }, { name: "s2026a" }], sign: "s2026a" }) },
    'selector "s2026a" is listed twice',
  ],
  ["dkim with no selectors", { dkim: dkim({ selectors: [], sign: "s2026a" }) }, 'needs "selectors"'],
  [
    "dkim selector without a name",
    { dkim: dkim({ selectors: [{ source: "generate" }], sign: "s2026a" }) },
    'selectors[0] has no "name"',
  ],
  [
    "dkim for a domain not configured",
    { dkim: JSON.stringify({ "other.team": { selectors: [{ name: "a" }], sign: "a" } }) },
    'mailstack:dkim has an entry for "other.team", which is not in mailstack:domains',
  ],
  [
    "dkim for an inactive domain",
    {
      domains: '[{"name":"tlabs.team"},{"name":"old.team","active":false}]',
      users: '[{"address":"alice@tlabs.team"}]',
      aliases: "[]",
      dkim: JSON.stringify({ "old.team": { selectors: [{ name: "a" }], sign: "a" } }),
    },
    'mailstack:dkim has an entry for "old.team", which is inactive',
  ],
  [
    "dkim algorithm with source import",
    {
      dkim: dkim({ selectors: [{ name: "s2026a", source: "import", algorithm: "rsa2048" }], sign: "s2026a" }),
    },
    'selector "s2026a" has source import and an algorithm',
  ],
  [
    "dkim unknown algorithm",
    { dkim: dkim({ selectors: [{ name: "s2026a", algorithm: "rsa1024" }], sign: "s2026a" }) },
    'has algorithm "rsa1024", not rsa2048, rsa4096, ed25519',
  ],
  [
    "dkim unknown source",
    { dkim: dkim({ selectors: [{ name: "s2026a", source: "file" }], sign: "s2026a" }) },
    'has source "file", not generate or import',
  ],
  [
    "dkim selector with unknown field",
    { dkim: dkim({ selectors: [{ name: "s2026a", bits: 2048 }], sign: "s2026a" }) },
    'selectors[0] has unknown field "bits"',
  ],
  [
    "dkim entry with unknown field",
    { dkim: dkim({ selectors: [{ name: "s2026a" }], sign: "s2026a", selector: "x" }) },
    'tlabs.team: has unknown field "selector"',
  ],
  [
    "imported selector without its key",
    { dkim: dkim({ selectors: [{ name: "s2026a", source: "import" }], sign: "s2026a" }) },
    'mailstack:dkimPrivateKeys has no key for "tlabs.team/s2026a", which mailstack:dkim imports',
  ],
  [
    "imported key no selector imports (stale secret)",
    { dkimPrivateKeys: JSON.stringify({ "tlabs.team/s2025a": RSA }) },
    'mailstack:dkimPrivateKeys has a key for "tlabs.team/s2025a", which no selector of mailstack:dkim imports',
  ],
  [
    "imported key for a generated selector (stale secret)",
    { dkimPrivateKeys: JSON.stringify({ "tlabs.team/mail": RSA }) },
    "(a stale secret)",
  ],
  [
    "imported key not a string",
    {
      dkim: dkim({ selectors: [{ name: "s2026a", source: "import" }], sign: "s2026a" }),
      dkimPrivateKeys: JSON.stringify({ "tlabs.team/s2026a": { pem: RSA } }),
    },
    'the key for "tlabs.team/s2026a" is not a string',
  ],
  [
    "imported keys in plain text",
    {
      dkim: dkim({ selectors: [{ name: "s2026a", source: "import" }], sign: "s2026a" }),
      dkimPrivateKeys: JSON.stringify({ "tlabs.team/s2026a": RSA }),
    },
    "mailstack:dkimPrivateKeys is stored in plain text",
    ["sshPrivateKey", "dbAdminPassword", "passwordHashes", "ldapBindPassword"],
  ],
];

describe("parseConfig rejects bad input with the key and the fix", () => {
  it.each(BAD)("%s", (_, values, expected, secretKeys) => {
    const found = problems(values, secretKeys);
    const joined = found.join("\n");
    expect(joined).toContain(expected);
    for (const p of found) {
      expect(p).toMatch(/^mailstack:\w+/);
      expect(p).toContain("Fix: ");
    }
  });

  it("has at least 20 bad inputs", () => {
    expect(BAD.length).toBeGreaterThanOrEqual(20);
  });

  it("reports every problem at once", () => {
    expect(problems({ sshPort: "0", host: undefined, adminEmail: "x" })).toHaveLength(3);
  });

  it("never echoes a secret's value", () => {
    const text = problems({ sshPrivateKey: "hunter2-not-a-key" }).join("\n");
    expect(text).not.toContain("hunter2");
    const ldap = problems({ ldapBindPassword: "hunter3\nsecond line" }).join("\n");
    expect(ldap).toContain("mailstack:ldapBindPassword");
    expect(ldap).not.toContain("hunter3");
  });
});

describe("DKIM config", () => {
  const generated = (name: string, algorithm = "rsa2048") => ({ name, source: "generate", algorithm });

  it("signs every active domain with one generated rsa2048 selector, mail, by default", () => {
    const cfg = parseConfig(raw({}));
    expect(cfg.dkim).toEqual([
      { domain: "corp.team", selectors: [generated("mail")], sign: "mail" },
      { domain: "tlabs.team", selectors: [generated("mail")], sign: "mail" },
    ]);
  });

  it("gives inactive domains no keys, and lists the domains by name", () => {
    const cfg = parseConfig(
      raw({
        domains: '[{"name":"old.team","active":false},{"name":"tlabs.team"},{"name":"new.team"}]',
        users: '[{"address":"alice@tlabs.team"}]',
        aliases: "[]",
        dkim: JSON.stringify({
          "new.team": { selectors: [{ name: "k1", algorithm: "ed25519" }], sign: "k1" },
        }),
      }),
    );
    expect(cfg.dkim.map((d) => d.domain)).toEqual(["new.team", "tlabs.team"]);
    expect(cfg.dkim[0]).toEqual({ domain: "new.team", selectors: [generated("k1", "ed25519")], sign: "k1" });
  });

  it("takes generate and rsa2048 as the defaults of a listed selector, and no algorithm for an import", async () => {
    const cfg = parseConfig(
      raw({
        dkim: dkim({
          selectors: [
            { name: "s2026a" },
            { name: "s2026b", algorithm: "rsa4096" },
            { name: "old", source: "import" },
          ],
          sign: "s2026a",
        }),
        dkimPrivateKeys: JSON.stringify({ "tlabs.team/old": ED25519 }),
      }),
    );
    // The selectors by name: `sign` says which signs, so their order means nothing.
    expect(cfg.dkim.find((d) => d.domain === "tlabs.team")).toEqual({
      domain: "tlabs.team",
      selectors: [{ name: "old", source: "import" }, generated("s2026a"), generated("s2026b", "rsa4096")],
      sign: "s2026a",
    });
    const keys = await settle(cfg.dkimPrivateKeys);
    expect(keys).toEqual({ value: { "tlabs.team/old": ED25519 }, secret: true });
  });

  // The four steps of a rotation from an imported key to a generated one,
  // each a valid config: every listed selector stays, only `sign` moves.
  const steps: [string, Record<string, unknown>, Record<string, string>][] = [
    [
      "0: the old key, imported",
      { selectors: [{ name: "s2025", source: "import" }], sign: "s2025" },
      { s2025: RSA },
    ],
    [
      "1: a new selector is added, published but not used",
      { selectors: [{ name: "s2025", source: "import" }, { name: "s2026" }], sign: "s2025" },
      { s2025: RSA },
    ],
    [
      "2 and 3: sign switches to it; the old one stays listed while it retires",
      { selectors: [{ name: "s2025", source: "import" }, { name: "s2026" }], sign: "s2026" },
      { s2025: RSA },
    ],
    ["4: the old one and its secret are removed", { selectors: [{ name: "s2026" }], sign: "s2026" }, {}],
  ];
  it.each(steps)("rotation step %s", (_, entry, keys) => {
    const cfg = parseConfig(
      raw({
        dkim: dkim(entry),
        dkimPrivateKeys: JSON.stringify(
          Object.fromEntries(Object.entries(keys).map(([s, k]) => [`tlabs.team/${s}`, k])),
        ),
      }),
    );
    const d = cfg.dkim.find((x) => x.domain === "tlabs.team");
    expect(d?.selectors.map((s) => s.name)).toEqual(
      (entry.selectors as { name: string }[]).map((s) => s.name),
    );
    expect(d?.sign).toBe(entry.sign);
  });

  it("rotation step 4 with the old secret left behind is refused as stale", () => {
    const found = problems({
      dkim: dkim({ selectors: [{ name: "s2026" }], sign: "s2026" }),
      dkimPrivateKeys: JSON.stringify({ "tlabs.team/s2025": "-----BEGIN PRIVATE KEY-----hunter5" }),
    });
    expect(found).toHaveLength(1);
    expect(found[0]).toContain("stale secret");
    expect(found[0]).toContain(`Fix: pulumi config rm --path 'dkimPrivateKeys["tlabs.team/s2025"]'`);
    expect(found[0]).not.toContain("hunter5");
  });

  it("a domain whose entry is wrong does not also call its imported keys stale", () => {
    const found = problems({
      dkim: dkim({ selectors: [{ name: "old", source: "import" }], sign: "new" }),
      dkimPrivateKeys: JSON.stringify({ "tlabs.team/old": RSA }),
    });
    expect(found).toEqual([expect.stringContaining('sign "new" is not one of its selectors (old)')]);
  });

  it("fixes name the exact --path to set", () => {
    expect(problems({ dkim: dkim({ selectors: [{ name: "a" }, { name: "b" }], sign: "c" }) })[0]).toContain(
      `Fix: pulumi config set --path 'dkim["tlabs.team"].sign' a`,
    );
    expect(
      problems({
        dkim: dkim({ selectors: [{ name: "a", source: "import", algorithm: "ed25519" }], sign: "a" }),
      }),
    ).toContainEqual(
      expect.stringContaining(`Fix: pulumi config rm --path 'dkim["tlabs.team"].selectors[0].algorithm'`),
    );
  });
});

describe("imported DKIM keys, checked when the secret resolves", () => {
  const check = (pems: Record<string, string>): string[] => dkimPrivateKeyProblems(pems);

  it("accepts RSA of 2048 bits or more, PKCS#1 or PKCS#8, and Ed25519", () => {
    const pkcs1 = crypto.createPrivateKey(RSA).export({ type: "pkcs1", format: "pem" }).toString();
    const pems = { "a.team/rsa": RSA, "a.team/pkcs1": pkcs1, "a.team/ed": ED25519 };
    expect(dkimPrivateKeyProblems(pems)).toEqual([]);
    expect(dkimKeyProblem(pem("rsa", 3072))).toBeUndefined();
  });

  it("names mailstack:dkimPrivateKeys[id] and the fix for each bad key, never its text", () => {
    const pems = {
      "a.team/garbage": "-----BEGIN PRIVATE KEY-----\nhunter6\n-----END PRIVATE KEY-----\n",
      "a.team/weak": pem("rsa", 1024),
      "a.team/ec": pem("ec"),
      "a.team/good": RSA,
    };
    const found = check(pems);
    const body = Object.values(pems).flatMap((k) =>
      k.split("\n").filter((l) => l !== "" && !l.startsWith("-----")),
    );
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/^mailstack:dkimPrivateKeys\["a\.team\/garbage"\] is not a PEM private key/);
    expect(found[1]).toMatch(/^mailstack:dkimPrivateKeys\["a\.team\/weak"\] is an RSA key of 1024 bits/);
    expect(found[2]).toMatch(/^mailstack:dkimPrivateKeys\["a\.team\/ec"\] is a key of type ec/);
    for (const p of found) {
      expect(p).toContain(`Fix: pulumi config set --secret --path 'dkimPrivateKeys[`);
      for (const line of body) expect(p).not.toContain(line);
    }
  });

  it("refuses an encrypted key, asking for it without a passphrase", () => {
    const encrypted = crypto.createPrivateKey(RSA).export({
      type: "pkcs8",
      format: "pem",
      cipher: "aes-256-cbc",
      passphrase: "pw",
    });
    expect(check({ "a.team/enc": encrypted.toString() })[0]).toContain("is encrypted");
  });

  it("parseConfig fails with that message with the rest of the config, before anything is registered", () => {
    const weak = pem("rsa", 1024);
    const found = problems(
      {
        dkim: dkim({ selectors: [{ name: "s2026a", source: "import" }], sign: "s2026a" }),
        dkimPrivateKeys: JSON.stringify({ "tlabs.team/s2026a": weak }),
        sshPort: "70000",
      },
      SECRETS,
    );
    expect(found).toHaveLength(2);
    expect(found.join("\n")).toContain(
      'mailstack:dkimPrivateKeys["tlabs.team/s2026a"] is an RSA key of 1024 bits',
    );
    expect(found.join("\n")).not.toContain(weak.split("\n")[1]);
  });
});

describe("validators", () => {
  it("domainProblem", () => {
    expect(domainProblem("tlabs.team")).toBeUndefined();
    expect(domainProblem("a-b.example.co.kr")).toBeUndefined();
    expect(domainProblem("a..b")).toBeDefined();
    expect(domainProblem("")).toBeDefined();
  });
  it("addressProblem", () => {
    expect(addressProblem("first.last+tag@tlabs.team")).toBeUndefined();
    expect(addressProblem("@tlabs.team")).toBeDefined();
    expect(addressProblem(".a@tlabs.team")).toBeDefined();
    expect(addressProblem("jürgen@tlabs.team")).toMatch(/outside ASCII; .*SMTPUTF8/);
  });
});

describe("readPrivateKey", () => {
  it("fails with the key name when the file is missing", () => {
    expect(() =>
      readPrivateKey({ host: "h", port: 22, user: "root", privateKey: { path: "/nonexistent/key" } }),
    ).toThrow(/mailstack:sshPrivateKeyPath .*ENOENT/);
  });
});

describe("readLdapBindPassword", () => {
  const ldap = (p: string) => ({
    uris: ["ldap://l"],
    bindDn: "cn=m,dc=x",
    fallback: "never" as const,
    bindPassword: { path: p },
  });
  it("reads the file under ~ as a secret, without its trailing newline", async () => {
    const pulumi = await import("@pulumi/pulumi");
    const home = fs.mkdtempSync(`${os.tmpdir()}/mailstack-`);
    fs.writeFileSync(`${home}/pw`, "s3cret\n");
    const out = readLdapBindPassword(ldap("~/pw"), home);
    expect(await pulumi.isSecret(out)).toBe(true);
    const value = await new Promise((resolve) => out.apply(resolve));
    expect(value).toBe("s3cret");
  });
  it("fails with the key name when the file is missing or empty", () => {
    expect(() => readLdapBindPassword(ldap("/nonexistent/pw"))).toThrow(
      /mailstack:ldapBindPasswordPath .*ENOENT/,
    );
    const home = fs.mkdtempSync(`${os.tmpdir()}/mailstack-`);
    fs.writeFileSync(`${home}/pw`, "");
    expect(() => readLdapBindPassword(ldap("~/pw"), home)).toThrow(
      /mailstack:ldapBindPasswordPath.*one line/,
    );
  });
});

describe("Pulumi.yaml", () => {
  it("declares exactly the keys config.ts knows, with the same types and defaults", () => {
    const project = jsyaml.load(fs.readFileSync("Pulumi.yaml", "utf8")) as {
      config: Record<string, { type: string; description: string; default?: unknown }>;
    };
    const declared = Object.fromEntries(Object.entries(project.config).map(([k, v]) => [k, v.type]));
    const known = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, v]) => [k, v.type]));
    expect(declared).toEqual(known);
    for (const [k, v] of Object.entries(project.config)) {
      const spec: KeySpec = CONFIG_KEYS[k as keyof typeof CONFIG_KEYS];
      expect(v.description, k).toBe(spec.description);
      expect(v.default, k).toEqual(spec.default);
      // Pulumi insists on a value for every declared key without a default.
      expect(v.default === undefined, k).toBe(spec.required === true);
    }
  });

  it("stack files hold only valid, known settings and no plaintext secret", async () => {
    for (const file of ["Pulumi.prod.yaml", "Pulumi.sandbox.yaml"]) {
      const settings = stackFileSettings(file);
      const plainLeaves = (v: unknown): number =>
        typeof v !== "object" || v === null
          ? 1
          : "secure" in v
            ? 0
            : Object.values(v).reduce((n: number, x) => n + plainLeaves(x), 0);
      for (const [k, v] of Object.entries(settings)) {
        expect(k, file).toMatch(/^mailstack:/);
        const spec: KeySpec | undefined =
          CONFIG_KEYS[k.slice("mailstack:".length) as keyof typeof CONFIG_KEYS];
        if (spec?.secret) expect(plainLeaves(v), `${file} ${k} has plain-text leaves`).toBe(0);
      }
      // Stand-ins replace the secrets the operator sets with --secret.
      const values = standInValues(settings, { sshKey: KEY, passwordHash: HASH, dkimKey: RSA });
      let cfg: StackConfig | undefined;
      expect(() => {
        cfg = parseConfig({ values, secretKeys: new Set(SECRETS) });
      }, file).not.toThrow();
      if (cfg) await settle(cfg.dkimPrivateKeys);
    }
  });

  it("the sandbox signs every active domain with imported keys only, two for example.test", async () => {
    const stack = jsyaml.load(fs.readFileSync("Pulumi.sandbox.yaml", "utf8")) as {
      config: Record<string, unknown>;
    };
    const dkim = stack.config["mailstack:dkim"];
    const keys = Object.keys(stack.config["mailstack:dkimPrivateKeys"] as object);
    const cfg = parseConfig(
      raw({
        domains: JSON.stringify(stack.config["mailstack:domains"]),
        users: "[]",
        passwordHashes: "{}",
        aliases: "[]",
        ldapUri: "ldap://10.213.0.3",
        ldapBindDn: "cn=mailserver,dc=corp,dc=example,dc=test",
        dkim: JSON.stringify(dkim),
        dkimPrivateKeys: JSON.stringify(Object.fromEntries(keys.map((k) => [k, RSA]))),
      }),
    );
    // The tls plugin cannot be built in the sandbox: a defaulted domain would need it.
    expect(Object.keys(dkim as object).sort()).toEqual(["corp.example.test", "example.org", "example.test"]);
    expect(cfg.dkim.flatMap((d) => d.selectors.map((s) => s.source))).toEqual(Array(4).fill("import"));
    expect(cfg.dkim.map((d) => [d.domain, d.selectors.map((s) => s.name), d.sign])).toEqual([
      ["corp.example.test", ["s2026a"], "s2026a"],
      ["example.org", ["s2026a"], "s2026a"],
      ["example.test", ["s2026a", "s2026b"], "s2026a"],
    ]);
    expect(keys.sort()).toEqual([
      "corp.example.test/s2026a",
      "example.org/s2026a",
      "example.test/s2026a",
      "example.test/s2026b",
    ]);
  });
});

describe("filter settings", () => {
  it("default to Rspamd's thresholds, greylisting on, network checks and freshclam on, no test patterns", () => {
    expect(parseConfig(raw({})).filter).toEqual({
      actions: { reject: 15, addHeader: 6, greylist: 4 },
      greylisting: true,
      networkChecks: true,
      testPatterns: false,
      clamavUpdates: true,
    });
  });

  it("take partial thresholds over the defaults, and reject null", () => {
    const cfg = parseConfig(raw({ spamActions: '{"reject": null, "addHeader": 8}', greylisting: "false" }));
    expect(cfg.filter.actions).toEqual({ reject: null, addHeader: 8, greylist: 4 });
    expect(cfg.filter.greylisting).toBe(false);
  });

  it("refuse unknown or disordered thresholds, naming the key and the fix", () => {
    expect(problems({ spamActions: '{"rejct": 10}' })).toEqual([
      expect.stringMatching(
        /^mailstack:spamActions has "rejct"; the thresholds are reject, addHeader and greylist\. Fix: /,
      ),
    ]);
    expect(problems({ spamActions: '{"reject": 5}' })).toEqual([
      expect.stringMatching(/^mailstack:spamActions is not usable: addHeader must be below reject\. Fix: /),
    ]);
    expect(problems({ spamActions: "[1]" })[0]).toMatch(/^mailstack:spamActions is not an object/);
  });
});

describe("fail2ban settings", () => {
  it("default, and take partial settings over the defaults", () => {
    expect(parseConfig(raw({})).fail2ban).toEqual({
      maxRetry: 5,
      findTime: "10m",
      banTime: "1h",
      allowlist: [],
    });
    expect(parseConfig(raw({ fail2ban: '{"maxRetry": 3, "allowlist": ["198.51.100.7"]}' })).fail2ban).toEqual(
      {
        maxRetry: 3,
        findTime: "10m",
        banTime: "1h",
        allowlist: ["198.51.100.7"],
      },
    );
  });

  it("refuse unknown or bad settings, naming the key and the fix", () => {
    expect(problems({ fail2ban: '{"bantime": "1h"}' })).toEqual([
      expect.stringMatching(
        /^mailstack:fail2ban has "bantime"; the settings are maxRetry, findTime, banTime, allowlist\. Fix: /,
      ),
    ]);
    expect(problems({ fail2ban: '{"allowlist": ["ops-laptop"]}' })).toEqual([
      expect.stringMatching(
        /^mailstack:fail2ban has allowlist entry "ops-laptop" is not an IP address or network\. Fix: /,
      ),
    ]);
    expect(problems({ fail2ban: '{"allowlist": "10.0.0.1"}' })[0]).toMatch(/allowlist is not a list/);
  });
});

describe("message size limit", () => {
  const limit = (v: string | undefined) => parseConfig(raw({ messageSizeLimit: v })).postfix.messageSizeLimit;
  const FIX = "Fix: pulumi config set mailstack:messageSizeLimit 50MiB";

  it("is 35 MiB by default, also when set to Pulumi.yaml's default", () => {
    expect(limit(undefined)).toBe(36700160);
    expect(limit(String(CONFIG_KEYS.messageSizeLimit.default))).toBe(36700160);
  });

  it("takes bytes, or K, M and G as powers of 1024, with or without iB", () => {
    expect(limit("36700160")).toBe(36700160);
    expect(limit("40M")).toBe(40 * 2 ** 20);
    expect(limit("40MiB")).toBe(40 * 2 ** 20);
    expect(limit("40 mib")).toBe(40 * 2 ** 20);
    expect(limit("2048K")).toBe(2 ** 21);
    expect(limit("1G")).toBe(2 ** 30);
    expect(limit("1048576")).toBe(2 ** 20);
  });

  it("refuses what is no size, or ambiguous, naming the key and the fix", () => {
    expect(problems({ messageSizeLimit: "35MB" })).toEqual([
      `mailstack:messageSizeLimit value "35MB" is ambiguous: MB can mean 10^6 or 2^20 bytes; write 35MiB for 36700160 bytes, or the number of bytes. ${FIX}`,
    ]);
    for (const v of ["lots", "35.5M", "-1", "35T", "0x2300000"]) {
      expect(problems({ messageSizeLimit: v }), v).toEqual([
        `mailstack:messageSizeLimit value "${v}" is not a size: a number of bytes (36700160), or a whole number with K, M or G, which count in powers of 1024 (35M or 35MiB). ${FIX}`,
      ]);
    }
  });

  it("refuses less than 1 MiB and more than 1 GiB", () => {
    expect(problems({ messageSizeLimit: "1048575" })).toEqual([
      `mailstack:messageSizeLimit value "1048575" is 1048575 bytes, less than 1 MiB (1048576): ordinary mail with a photo would bounce. ${FIX}`,
    ]);
    expect(problems({ messageSizeLimit: "1025M" })).toEqual([
      `mailstack:messageSizeLimit value "1025M" is 1074790400 bytes, more than 1 GiB (1073741824): Rspamd holds each message whole in memory while it scans it. ${FIX}`,
    ]);
  });
});

describe("dns settings", () => {
  it("default to a zone file, the host as IPv4 address, and the documented SPF, DMARC and MTA-STS", () => {
    const dns = parseConfig(raw({})).dns;
    expect(dns.provider).toBe("zonefile");
    expect(dns.ipv4).toBe("203.0.113.25");
    expect(dns.spf).toEqual({ includes: [], all: "-all" });
    expect(dns.dmarc.rua).toEqual([`mailto:${parseConfig(raw({})).adminEmail}`]);
    expect(dns.mtaSts).toEqual({ mode: "testing", maxAge: 604800 });
    expect(dns.caaIssuer).toBe("letsencrypt.org");
  });

  it("refuse bad DNS settings, naming the key and the fix", () => {
    expect(problems({ dmarc: '{"rua": ["ops@example.test"]}' })).toEqual([
      expect.stringMatching(/^mailstack:dmarc has rua "ops@example\.test" must be mailto:address\. Fix: /),
    ]);
    expect(problems({ spf: '{"inclde": []}' })[0]).toMatch(
      /^mailstack:spf has "inclde"; the settings are includes, all\. Fix: /,
    );
    expect(problems({ dnsProvider: "cloudflare" })).toEqual([
      expect.stringMatching(
        /^mailstack:cloudflareApiToken is required with dnsProvider cloudflare but not set\. Fix: /,
      ),
      expect.stringMatching(/^mailstack:cloudflareZoneIds has no zone id for corp\.team\. /),
      expect.stringMatching(
        /^mailstack:cloudflareZoneIds has no zone id for tlabs\.team\. Fix: pulumi config set --path 'cloudflareZoneIds\["tlabs\.team"\]' <zone id>$/,
      ),
    ]);
  });
});

describe("tls settings", () => {
  it("default to Let's Encrypt over HTTP-01, no private CA and no TLSA", () => {
    expect(parseConfig(raw({})).tls).toEqual({
      acmeServer: "https://acme-v02.api.letsencrypt.org/directory",
      challenge: "http-01",
      tlsa: false,
    });
    expect(parseConfig(raw({ acmeServer: "letsencrypt-staging" })).tls.acmeServer).toBe(
      "https://acme-staging-v02.api.letsencrypt.org/directory",
    );
    expect(parseConfig(raw({ acmeServer: "none" })).tls.acmeServer).toBeUndefined();
    expect(parseConfig(raw({ acmeServer: "https://ca.internal:9000/acme/dir" })).tls.acmeServer).toBe(
      "https://ca.internal:9000/acme/dir",
    );
  });

  it("refuse bad TLS settings, naming the key and the fix", () => {
    expect(problems({ acmeServer: "http://ca.internal/dir" })).toEqual([
      expect.stringMatching(
        /^mailstack:acmeServer value "http:\/\/ca\.internal\/dir" must be an https:\/\/ URL .*Fix: /,
      ),
    ]);
    expect(problems({ acmeServer: "lets-encrypt" })[0]).toMatch(
      /^mailstack:acmeServer value "lets-encrypt" is not letsencrypt, letsencrypt-staging, none or an https:\/\/ URL/,
    );
    expect(problems({ acmeChallenge: "dns-01" })).toEqual([
      expect.stringMatching(
        /^mailstack:cloudflareApiToken is required with acmeChallenge dns-01 but not set\. Fix: /,
      ),
    ]);
    expect(problems({ acmeChallenge: "tls-alpn-01" })[0]).toMatch(
      /^mailstack:acmeChallenge value "tls-alpn-01" is not http-01 or dns-01/,
    );
    expect(problems({ acmeCaBundlePath: "ca.pem" })[0]).toMatch(
      /^mailstack:acmeCaBundlePath value "ca\.pem" is not an absolute path/,
    );
    expect(problems({ tlsa: "yes" })[0]).toMatch(/^mailstack:tlsa value "yes" is not true or false/);
  });

  it("reads a private ACME server's CA from the deploying machine, and says what is wrong with a bad file", () => {
    const home = fs.mkdtempSync(`${os.tmpdir()}/mailstack-`);
    const tls = (p: string) => parseConfig(raw({ acmeCaBundlePath: p })).tls;
    expect(readAcmeCaBundle(parseConfig(raw({})).tls, home)).toBeUndefined();
    expect(() => readAcmeCaBundle(tls("~/missing.pem"), home)).toThrow(
      /mailstack:acmeCaBundlePath points at .*missing\.pem.*ENOENT/,
    );
    fs.writeFileSync(`${home}/key.pem`, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    expect(() => readAcmeCaBundle(tls("~/key.pem"), home)).toThrow(/does not hold one PEM certificate/);
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    fs.writeFileSync(`${home}/ca.pem`, `${pem}\n`);
    expect(readAcmeCaBundle(tls("~/ca.pem"), home)).toBe(pem);
  });
});

describe("storage settings", () => {
  const external = {
    storageMode: "external",
    minioEndpoint: undefined,
    minioRootUser: undefined,
    minioRootPassword: undefined,
    s3Endpoint: "https://s3.eu-central-1.amazonaws.com/",
    s3Bucket: "tlabs-mail-backups",
    s3Region: "eu-central-1",
    s3AccessKeyId: "AKIAEXAMPLEKEYID",
    s3SecretAccessKey: "external-secret-key",
  };

  it("default to MinIO, a bucket named after the first domain, us-east-1 and 30 days, the admin key secret", async () => {
    const storage = parseConfig(raw({ minioEndpoint: "https://minio.tlabs.team:9000/" })).storage;
    expect(storage).toMatchObject({
      mode: "minio",
      endpoint: "https://minio.tlabs.team:9000",
      bucket: "mail-tlabs-team",
      region: "us-east-1",
      versionRetentionDays: 30,
    });
    if (storage.mode !== "minio") throw new Error("not minio");
    expect(await settle(pulumi.output(storage.rootUser))).toEqual({ value: "minio-admin", secret: true });
    expect(await settle(pulumi.output(storage.rootPassword))).toEqual({
      value: "minio-admin-pw",
      secret: true,
    });
  });

  it("take an explicit bucket, retention and region, and treat Pulumi.yaml's defaults as unset", () => {
    expect(
      parseConfig(
        raw({ minioBucket: "backups.tlabs", backupVersionRetentionDays: "7", s3Region: "ap-northeast-2" }),
      ).storage,
    ).toMatchObject({ bucket: "backups.tlabs", versionRetentionDays: 7, region: "ap-northeast-2" });
    // Pulumi hands the program every declared default; in another mode they are not stray settings.
    const none = parseConfig(
      raw({
        storageMode: "none",
        minioEndpoint: "",
        minioRootUser: "",
        minioRootPassword: "",
        backupVersionRetentionDays: "30",
        s3Region: "us-east-1",
      }),
    );
    expect(none.storage).toEqual({ mode: "none" });
  });

  it("external mode passes an existing bucket and key through, the key secret", async () => {
    const storage = parseConfig(raw(external)).storage;
    expect(storage).toMatchObject({
      mode: "external",
      endpoint: "https://s3.eu-central-1.amazonaws.com",
      bucket: "tlabs-mail-backups",
      region: "eu-central-1",
    });
    if (storage.mode !== "external") throw new Error("not external");
    expect(await settle(pulumi.output(storage.accessKeyId))).toEqual({
      value: "AKIAEXAMPLEKEYID",
      secret: true,
    });
    expect(await settle(pulumi.output(storage.secretAccessKey))).toEqual({
      value: "external-secret-key",
      secret: true,
    });
  });

  it("name what minio mode is missing, with the fix and the other modes", () => {
    expect(
      problems({ minioEndpoint: undefined, minioRootUser: undefined, minioRootPassword: undefined }),
    ).toEqual(
      ["minioEndpoint", "minioRootUser", "minioRootPassword"].map((k) =>
        expect.stringMatching(
          new RegExp(
            `^mailstack:${k} is required with storageMode minio \\(the default\\) but not set\\. Fix: pulumi config set .*mailstack:${k}.*, or choose another mode: pulumi config set mailstack:storageMode external$`,
          ),
        ),
      ),
    );
  });

  it("name what external mode is missing", () => {
    const found = problems({
      ...external,
      s3Endpoint: undefined,
      s3Bucket: undefined,
      s3AccessKeyId: undefined,
    });
    expect(found.map((p) => p.split(" ")[0])).toEqual([
      "mailstack:s3Endpoint",
      "mailstack:s3Bucket",
      "mailstack:s3AccessKeyId",
    ]);
    for (const p of found) expect(p).toContain("is required with storageMode external but not set. Fix: ");
  });

  it("refuse bad values, naming the key and the fix", () => {
    expect(problems({ storageMode: "s3" })).toEqual([
      'mailstack:storageMode value "s3" is not minio, external or none. Fix: pulumi config set mailstack:storageMode external',
    ]);
    expect(problems({ minioEndpoint: "minio.tlabs.team:9000" })[0]).toMatch(
      /^mailstack:minioEndpoint value "minio\.tlabs\.team:9000" must start with https:\/\/ \(or http:\/\/\)\. Fix: pulumi config set mailstack:minioEndpoint https:\/\/minio\.tlabs\.team:9000$/,
    );
    expect(problems({ minioEndpoint: "https://minio.tlabs.team/backups" })[0]).toMatch(
      /^mailstack:minioEndpoint value ".*" must have no path/,
    );
    expect(problems({ minioBucket: "Mail_Backups" })[0]).toMatch(
      /^mailstack:minioBucket value "Mail_Backups" may hold only lower-case letters, digits, dots and hyphens/,
    );
    expect(problems({ minioBucket: "10.0.0.1" })[0]).toMatch(/looks like an IP address/);
    const long = `${"a".repeat(60)}.team`;
    expect(
      problems({
        domains: JSON.stringify([{ name: long }]),
        users: "[]",
        passwordHashes: "{}",
        aliases: "[]",
      }),
    ).toEqual([
      `mailstack:minioBucket is not set, and the default "mail-${"a".repeat(60)}-team" (from ${long}) must be 3 to 63 characters long. Fix: pulumi config set mailstack:minioBucket mail-tlabs-team`,
    ]);
    for (const days of ["0", "3651", "thirty", "1.5"]) {
      expect(problems({ backupVersionRetentionDays: days })).toEqual([
        `mailstack:backupVersionRetentionDays value "${days}" is not a number of days (a whole number from 1 to 3650). Fix: pulumi config set mailstack:backupVersionRetentionDays 30`,
      ]);
    }
    expect(problems({ s3Region: "US East" })[0]).toMatch(
      /^mailstack:s3Region value "US East" is not a region name/,
    );
  });

  it("refuse the settings of another mode, so no stale key or bucket lingers in config", () => {
    expect(
      problems({ ...external, minioRootPassword: "old-admin-pw", backupVersionRetentionDays: "7" }),
    ).toEqual([
      "mailstack:minioRootPassword is a setting of storageMode minio, but storageMode is external. Fix: pulumi config rm mailstack:minioRootPassword",
      "mailstack:backupVersionRetentionDays is a setting of storageMode minio, but storageMode is external. Fix: pulumi config rm mailstack:backupVersionRetentionDays",
    ]);
    expect(problems({ s3Bucket: "tlabs-mail-backups" })).toEqual([
      "mailstack:s3Bucket is a setting of storageMode external, but storageMode is minio. Fix: pulumi config rm mailstack:s3Bucket",
    ]);
    expect(
      problems({
        storageMode: "none",
        minioEndpoint: undefined,
        minioRootUser: undefined,
        minioRootPassword: undefined,
        s3Region: "eu-central-1",
      }),
    ).toEqual([
      "mailstack:s3Region is a setting of storageMode minio or external, but storageMode is none. Fix: pulumi config rm mailstack:s3Region",
    ]);
  });

  it("never show a credential: not when too short, not inside an endpoint URL, not when stored in plain text", () => {
    const text = [
      ...problems({ minioRootPassword: "hunter9" }),
      ...problems({ minioRootUser: "hunter 10" }),
      ...problems({ minioEndpoint: "https://admin:hunter11@minio.tlabs.team" }),
      ...problems(
        { ...external, s3SecretAccessKey: "hunter12" },
        SECRETS.filter((k) => k !== "s3SecretAccessKey"),
      ),
    ].join("\n");
    expect(text).toContain(
      "mailstack:minioRootPassword value (secret, not shown) is shorter than 8 characters",
    );
    expect(text).toContain("mailstack:minioRootUser value (secret, not shown) has whitespace");
    expect(text).toContain("mailstack:minioEndpoint value (not shown) holds credentials");
    // Reported once, as a plain-text secret, and not also as missing.
    expect(text.match(/^mailstack:s3SecretAccessKey/gm)).toHaveLength(1);
    expect(text).toContain("mailstack:s3SecretAccessKey is stored in plain text but must be a secret");
    expect(text).not.toMatch(/hunter/);
  });
});

describe("backup settings", () => {
  it("default to a daily backup at 03:15 with a week, a month and half a year kept, the password a secret", async () => {
    const b = parseConfig(raw({})).backup;
    expect(b.settings).toEqual({
      schedule: "03:15",
      keepLast: 3,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 6,
      maxAgeHours: 26,
      database: true,
    });
    expect(await pulumi.isSecret(b.password as pulumi.Output<string>)).toBe(true);
    expect(problems({ backupPassword: undefined })).toEqual([
      expect.stringMatching(
        /^mailstack:backupPassword is required: backups into the MinIO bucket are encrypted with it\. Fix: .*or pulumi config set mailstack:storageMode none for no backups$/,
      ),
    ]);
    expect(
      parseConfig(
        raw({
          storageMode: "none",
          minioEndpoint: undefined,
          minioRootUser: undefined,
          minioRootPassword: undefined,
          backupPassword: undefined,
        }),
      ).backup.password,
    ).toBeUndefined();
  });

  it("refuse bad backup settings and a weak password, never showing it", () => {
    expect(problems({ backup: '{"schedule": "3am"}' })[0]).toMatch(
      /^mailstack:backup has schedule "3am" must be a time of day such as "03:15", or "off"\. Fix: /,
    );
    expect(problems({ backup: '{"keep": 3}' })[0]).toMatch(
      /^mailstack:backup has "keep"; the settings are schedule, /,
    );
    const weak = problems({ backupPassword: "hunter2" });
    expect(weak[0]).toMatch(
      /^mailstack:backupPassword value \(secret, not shown\) is shorter than 16 characters/,
    );
    expect(weak.join()).not.toContain("hunter2");
    expect(problems({ dbHost: "db.tlabs.team" }).join()).toMatch(
      /mailstack:backup dumps the database on the mail host, but it runs on db\.tlabs\.team .*Fix: back it up at the database server/,
    );
  });
});

describe("mail storage settings", () => {
  it("default to Maildir; obox takes its cache settings and the storage bucket", () => {
    expect(parseConfig(raw({})).obox).toBeUndefined();
    expect(parseConfig(raw({ mailStorage: "obox", obox: '{"cacheSize": "4G"}' })).obox).toEqual({
      cacheSize: "4G",
      cachePath: "/var/cache/mails",
      addressing: "path",
      allowHttp: false,
    });
  });

  it("refuse obox without a bucket, over plain http, or with bad cache settings, naming the key", () => {
    expect(problems({ mailStorage: "s3" })[0]).toMatch(
      /^mailstack:mailStorage value "s3" is not maildir or obox/,
    );
    const none = problems({
      mailStorage: "obox",
      storageMode: "none",
      minioEndpoint: undefined,
      minioRootUser: undefined,
      minioRootPassword: undefined,
      backupPassword: undefined,
    });
    expect(none).toEqual([
      expect.stringMatching(
        /^mailstack:mailStorage is obox, which keeps mail in the storage bucket, but mailstack:storageMode is none\. Fix: pulumi config set mailstack:storageMode minio/,
      ),
    ]);
    expect(
      problems({ mailStorage: "obox", minioEndpoint: "http://minio.tlabs.team:9000" }).join("\n"),
    ).toMatch(/^mailstack:obox cannot be used: .*http.*/m);
    expect(problems({ mailStorage: "obox", obox: '{"cacheSize": "lots"}' })[0]).toMatch(
      /^mailstack:obox cannot be used: cacheSize "lots" must be a size such as 512M or 2G/,
    );
    expect(problems({ obox: '{"cache": "1G"}' })[0]).toMatch(
      /^mailstack:obox has "cache"; the settings are cacheSize/,
    );
  });
});

describe("alias loops", () => {
  const domains = [
    { name: "a.team", authType: "local" as const, active: true },
    { name: "b.team", authType: "local" as const, active: true },
  ];
  const user = (address: string, enabled = true) => ({ address, quotaBytes: 0, enabled, sendAs: [] });
  const alias = (source: string, destination: string) => ({ source, destination });

  it("are none where every chain ends in a mailbox, itself or another server", () => {
    expect(
      aliasLoops(
        [
          alias("x@a.team", "alice@a.team"),
          // A mailbox that keeps a copy and forwards: it ends with itself.
          alias("alice@a.team", "alice@a.team"),
          alias("alice@a.team", "friend@elsewhere.example"),
          // A catch-all to a mailbox, and one to an address with no alias of its own.
          alias("@a.team", "alice@a.team"),
          alias("@b.team", "postmaster@b.team"),
        ],
        [user("alice@a.team")],
        domains,
      ),
    ).toEqual([]);
  });

  it("are named once each, from their smallest address, however long", () => {
    expect(
      aliasLoops(
        [alias("c@a.team", "a@a.team"), alias("a@a.team", "b@a.team"), alias("b@a.team", "c@a.team")],
        [],
        domains,
      ),
    ).toEqual([["a@a.team", "b@a.team", "c@a.team", "a@a.team"]]);
  });

  it("go through a mailbox's own aliases, and not through a disabled mailbox's catch-all", () => {
    // alice keeps no copy (no alias to herself): her aliases are where her mail goes.
    expect(
      aliasLoops(
        [alias("alice@a.team", "x@a.team"), alias("x@a.team", "alice@a.team")],
        [user("alice@a.team")],
        domains,
      ),
    ).toEqual([["alice@a.team", "x@a.team", "alice@a.team"]]);
    // A disabled mailbox with no alias falls to the catch-all, which sends it back.
    expect(
      aliasLoops(
        [alias("@a.team", "gone@b.team"), alias("gone@b.team", "old@a.team")],
        [user("old@a.team", false)],
        domains,
      ),
    ).toEqual([["gone@b.team", "old@a.team", "gone@b.team"]]);
  });

  it("stop at an inactive domain, whose mail Postfix does not expand", () => {
    const inactive = [
      domains[0] as (typeof domains)[number],
      { ...domains[1], active: false } as (typeof domains)[number],
    ];
    expect(aliasLoops([alias("x@a.team", "y@b.team"), alias("y@b.team", "x@a.team")], [], inactive)).toEqual(
      [],
    );
  });
});
