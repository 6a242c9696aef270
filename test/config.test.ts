import * as fs from "node:fs";
import * as os from "node:os";
import * as jsyaml from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  addressProblem,
  CONFIG_KEYS,
  ConfigError,
  domainProblem,
  type KeySpec,
  parseConfig,
  type RawConfig,
  readLdapBindPassword,
  readPrivateKey,
} from "../config";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
const SECRETS = ["sshPrivateKey", "dbAdminPassword", "passwordHashes", "ldapBindPassword"];

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
    expect(cfg.domains).toEqual([
      { name: "tlabs.team", authType: "local", active: true },
      { name: "corp.team", authType: "ldap", ldapBaseDn: "ou=people,dc=corp,dc=team", active: true },
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
        ["sshPrivateKey", "ldapBindPassword"],
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
      ]),
    );
    expect(cfg.ssh.privateKey).toEqual({ path: "~/.ssh/id_ed25519" });
  });
});

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

  it("stack files hold only valid, known settings and no plaintext secret", () => {
    for (const file of ["Pulumi.prod.yaml", "Pulumi.sandbox.yaml"]) {
      const stack = jsyaml.load(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
      const values: Record<string, string> = {};
      // Every leaf of a secret value must be encrypted; tests decrypt nothing, so
      // each encrypted leaf becomes a stand-in that passes validation.
      const standIn = (v: unknown, leaf: string): unknown => {
        if (typeof v !== "object" || v === null) return v;
        if ("secure" in v) return leaf;
        if (Array.isArray(v)) return v.map((x) => standIn(x, leaf));
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, standIn(x, leaf)]));
      };
      const plainLeaves = (v: unknown): number =>
        typeof v !== "object" || v === null
          ? 1
          : "secure" in v
            ? 0
            : Object.values(v).reduce((n: number, x) => n + plainLeaves(x), 0);
      for (const [k, v] of Object.entries(stack.config)) {
        expect(k, file).toMatch(/^mailstack:/);
        const short = k.slice("mailstack:".length);
        const spec: KeySpec | undefined = CONFIG_KEYS[short as keyof typeof CONFIG_KEYS];
        if (spec?.secret) expect(plainLeaves(v), `${file} ${k} has plain-text leaves`).toBe(0);
        const value = standIn(v, short === "passwordHashes" ? HASH : "stand-in");
        values[short] = typeof value === "string" ? value : JSON.stringify(value);
      }
      // Stand-ins replace the secrets the operator sets with --secret.
      if (values.sshPrivateKeyPath === undefined) values.sshPrivateKey = KEY;
      if (values.dbMode !== "preprovisioned") values.dbAdminPassword = "stand-in";
      expect(() => parseConfig({ values, secretKeys: new Set(SECRETS) }), file).not.toThrow();
    }
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
