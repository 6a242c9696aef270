// The audit report (scripts/audit/): the readers of the state as round trips
// of the stack's own renderers, every section of the report over a scrubbed
// copy of the sandbox's export (test/fixtures/audit/, its ciphertexts
// replaced by fake ones), the certificate warning, and the promise that no
// secret gets out: secrets planted in the fixture appear in neither output.
// test/sandbox/audit-contract.ts runs the command against the deployed e2e stack.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { evaluate, RULES } from "../policy/rules";
import { parseArgs } from "../scripts/audit/cli";
import {
  AUDIT_SECTIONS,
  type AuditInput,
  buildAudit,
  type PolicyResults,
  renderAudit,
} from "../scripts/audit/report";
import {
  type Json,
  parseAccountsSql,
  parseZoneFragment,
  policyResources,
  readExport,
  SECRET_SIG,
} from "../scripts/audit/state";
import { renderAccountsSql } from "../src/concerns/database/accounts-sql";
import { DATABASE_SPEC } from "../src/concerns/database/spec";
import {
  DEFAULT_DMARC,
  DEFAULT_MTA_STS,
  DEFAULT_SPF,
  dnsRecords,
  zoneFragment,
} from "../src/concerns/dns/records";
import { renderFirewallRules } from "../src/concerns/host/render";
import { renderPayload } from "../src/core/push";
import { ROOT } from "../src/core/template";

const FIXTURES = path.join(ROOT, "test", "helpers", "fixtures", "audit");
const load = (file: string): Json => JSON.parse(fs.readFileSync(path.join(FIXTURES, file), "utf8"));
const NOW = new Date("2026-12-01T12:00:00Z");
const POLICY: PolicyResults = {
  rules: [
    { name: "secrets-encrypted", description: "secret inputs are encrypted", enforcementLevel: "mandatory" },
    { name: "tlsa-published", description: "DANE for port 25", enforcementLevel: "advisory" },
  ],
  findings: [
    {
      rule: "tlsa-published",
      enforcementLevel: "advisory",
      urn: "urn:pulumi:sandbox::mailstack::mailstack:dns:MailDns::mail-dns",
      message: "no TLSA record for mail.example.test",
    },
  ],
};

function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    stack: "sandbox",
    export: load("export.json"),
    outputs: load("outputs.json"),
    policy: POLICY,
    now: NOW,
    pins: { "@pulumi/pulumi": "3.248.0" },
    ...overrides,
  };
}

type Resource = {
  urn: string;
  type: string;
  parent?: string;
  created?: string;
  [k: string]: Json | undefined;
};
const resources = (doc: Json) => (doc as { deployment: { resources: Resource[] } }).deployment.resources;
const named = (doc: Json, name: string) => {
  const r = resources(doc).find((x) => x.urn.endsWith(`::${name}`));
  if (!r) throw new Error(`the fixture has no resource ${name}`);
  return r as Resource & { inputs: Record<string, Json>; outputs: Record<string, Json> };
};

// Distinctive secrets, planted where a careless reader would find them.
const PEM =
  "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPLANTEDpemLINE0b7e9c2d41a\n-----END PRIVATE KEY-----\n";
const HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$UExBTlRFRHNhbHQ$PLANTEDhash5e1d";
const CIPHERTEXTS = [
  "v1:PLANTED-CIPHERTEXT-b41c",
  "v1:PLANTED-CIPHERTEXT-77d0",
  "v1:PLANTED-CIPHERTEXT-c9e3",
];
const RESTIC = "PLANTED-restic-password-9d2e";
const PLANTED = [PEM.split("\n")[1] ?? "", HASH, ...CIPHERTEXTS, RESTIC, "PLANTEDhash5e1d", "PLANTEDpemLINE"];
const secret = (ciphertext: string) => ({ [SECRET_SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext });

/** The fixture with secrets planted, a generated DKIM key and a Cloudflare record. */
function planted(): { export: Json; outputs: Json } {
  const doc = load("export.json");
  const list = resources(doc);
  const dkim = named(doc, "mail-dkim");
  const dns = named(doc, "mail-dns");
  const stack = list[0]?.urn.split("::")[0] ?? "";
  list.push(
    {
      urn: `${dkim.urn}$tls:index/privateKey:PrivateKey::mail-dkim-example.test-s2026b`,
      custom: true,
      type: "tls:index/privateKey:PrivateKey",
      parent: dkim.urn,
      created: "2026-06-04T08:00:00Z",
      inputs: { algorithm: "RSA", rsaBits: 2048 },
      // A plain PEM where only ciphertext belongs: the report must not read it.
      outputs: { privateKeyPem: secret(CIPHERTEXTS[0] ?? ""), privateKeyPemPkcs8: PEM },
    },
    {
      urn: `${stack}::mailstack::pulumi:providers:cloudflare::mail-dns-cloudflare`,
      custom: true,
      type: "pulumi:providers:cloudflare",
      inputs: { apiToken: secret(CIPHERTEXTS[1] ?? ""), version: "6.22.1" },
      outputs: { version: "6.22.1" },
    },
    {
      urn: `${dns.urn}$cloudflare:index/dnsRecord:DnsRecord::mail-dns-txt-s2026a._domainkey.example.org`,
      custom: true,
      type: "cloudflare:index/dnsRecord:DnsRecord",
      parent: dns.urn,
      created: "2026-09-02T10:00:00Z",
      inputs: { name: "s2026a._domainkey.example.org", type: "TXT", zoneId: "zone-example-org", ttl: 3600 },
      outputs: {},
    },
  );
  named(doc, "mail-db-passwords").inputs.stdin = `UPDATE virtual_users SET password_hash = '${HASH}';\n`;
  named(doc, "mail-rspamd-dkim-keys-apply").inputs.stdin = PEM;
  named(doc, "mail-host-facts").inputs.connection = secret(CIPHERTEXTS[2] ?? "");
  const backup = named(doc, "mail-backup-config-apply").inputs;
  backup.stdin = String(backup.stdin)
    .replace("KEEP_LAST=", `RESTIC_PASSWORD=${RESTIC}\nKEEP_LAST=`)
    .replace(/ 0644 19$/m, " 0644 20");
  const outputs = load("outputs.json") as Record<string, Json>;
  outputs.leakedKey = PEM;
  outputs.tls = { ...(outputs.tls as Record<string, Json>), privateKey: PEM };
  return { export: doc, outputs };
}

describe("the state readers invert the stack's renderers", () => {
  it("reads domains, users, aliases and sending rights back from the accounts SQL", () => {
    const domains = [
      { name: "example.test", authType: "local", active: true },
      { name: "corp.example.test", authType: "ldap", ldapBaseDn: "ou=o'brien,dc=corp", active: false },
    ] as const;
    const accounts = {
      users: [
        { address: "alice@example.test", quotaBytes: 1024, enabled: true, sendAs: ["sales@example.test"] },
        { address: "eve@example.test", quotaBytes: 0, enabled: false, sendAs: [] },
      ],
      aliases: [{ source: "@example.test", destination: "alice@example.test" }],
      removed: "disable",
    } as const;
    expect(parseAccountsSql(renderAccountsSql(DATABASE_SPEC, domains, accounts))).toEqual({
      domains: [
        { name: "corp.example.test", authType: "ldap", ldapBaseDn: "ou=o'brien,dc=corp", active: false },
        { name: "example.test", authType: "local", ldapBaseDn: null, active: true },
      ],
      users: [
        { address: "alice@example.test", quotaBytes: 1024, enabled: true },
        { address: "eve@example.test", quotaBytes: 0, enabled: false },
      ],
      aliases: [{ source: "@example.test", destination: "alice@example.test" }],
      sendAs: [{ address: "sales@example.test", login: "alice@example.test" }],
    });
    const empty = parseAccountsSql(renderAccountsSql(DATABASE_SPEC, domains, { ...accounts, aliases: [] }));
    expect(empty?.aliases).toEqual([]);
    expect(parseAccountsSql("SELECT 1;")).toBeUndefined();
    expect(() =>
      parseAccountsSql("CREATE TEMP TABLE want_users (x) ;\nINSERT INTO want_users VALUES\n  (oops);"),
    ).toThrow("unreadable want_users row");
  });

  it("reads every record back from a zone fragment, long DKIM values joined", () => {
    const dkimValue = `v=DKIM1; k=rsa; p=${"Q".repeat(392)}`;
    const records = dnsRecords({
      hostname: "mail.example.test",
      ipv4: "203.0.113.25",
      domains: ["example.test"],
      spf: DEFAULT_SPF,
      dmarc: { ...DEFAULT_DMARC, rua: ["mailto:postmaster@example.test"] },
      mtaSts: DEFAULT_MTA_STS,
      tlsRptRua: ["mailto:postmaster@example.test"],
      caaIssuer: "letsencrypt.org",
      dkim: [{ name: "s1._domainkey.example.test", value: dkimValue }],
      tlsaSpki: "ab".repeat(32),
    });
    const parsed = parseZoneFragment(zoneFragment("example.test", records, 300));
    expect(parsed.map((r) => [r.name, r.type, r.why])).toEqual(records.map((r) => [r.name, r.type, r.why]));
    expect(parsed.find((r) => r.name === "s1._domainkey.example.test")?.value).toBe(dkimValue);
    expect(parsed.find((r) => r.name === "_dmarc.example.test")?.value).toBe(
      records.find((r) => r.name === "_dmarc.example.test")?.value,
    );
    expect(parsed.every((r) => r.ttl === 300)).toBe(true);
  });
});

describe("the audit report of the sandbox fixture", () => {
  const report = buildAudit(input());
  const { markdown, json } = renderAudit(input());

  it("has every section, in both forms", () => {
    const doc = JSON.parse(json) as Record<string, unknown>;
    for (const [key, title] of AUDIT_SECTIONS) {
      expect(doc[key], key).toBeDefined();
      expect(markdown).toContain(`\n## ${title}\n`);
    }
    expect(doc).toEqual(JSON.parse(JSON.stringify(report)));
  });

  it("summarises the stack at the top", () => {
    expect(report.summary).toEqual({
      host: "10.213.0.2",
      hostname: "mail.example.test",
      os: "debian 12 sysv",
      domains: 4,
      activeDomains: 3,
      users: { enabled: 7, disabled: 1 },
      aliases: 3,
      openPorts: [22, 25, 80, 443, 465, 587, 993, 995],
      dkimSelectors: 4,
      certificateDaysLeft: 83,
      policy: { rules: 2, passed: 1, mandatoryViolations: 0 },
      warnings: ["policy tlsa-published (advisory): 1 finding(s)"],
    });
    expect(markdown).toMatch(/^# Mail stack audit: sandbox\n\nGenerated 2026-12-01T12:00:00.000Z /);
    expect(markdown).toContain("| Users | 7 enabled, 1 disabled |");
    expect(markdown).toContain("- policy tlsa-published (advisory): 1 finding(s)");
  });

  it("counts accounts and lists aliases per domain, from the accounts sync", () => {
    expect(report.domains.source).toContain("mail-db-accounts");
    const byName = Object.fromEntries(report.domains.list.map((d) => [d.name, d]));
    expect(byName["example.test"]).toEqual({
      name: "example.test",
      active: true,
      authType: "local",
      ldapBaseDn: null,
      users: { enabled: 3, disabled: 1 },
      aliases: [
        { source: "postmaster@example.test", destination: "alice@example.test" },
        { source: "sales@example.test", destination: "alice@example.test" },
      ],
      sendAsRights: 1,
    });
    expect(byName["corp.example.test"]?.ldapBaseDn).toBe("ou=people,dc=corp,dc=example,dc=test");
    expect(byName["old.example.test"]?.active).toBe(false);
    expect(markdown).toContain("| example.org | true | local | 1 | 0 | 1 | 0 |");
    expect(markdown).toContain("| @example.org | frank@example.org |");
  });

  it("falls back to the domains output when the accounts sync is unreadable", () => {
    const doc = load("export.json");
    named(doc, "mail-db-accounts").inputs.stdin = secret("v1:fake");
    const r = buildAudit(input({ export: doc }));
    expect(r.domains.list.map((d) => [d.name, d.users])).toEqual([
      ["example.test", null],
      ["example.org", null],
      ["corp.example.test", null],
      ["old.example.test", null],
    ]);
  });

  it("lists the open ports and every DNS record per domain", () => {
    expect(report.openPorts).toContainEqual({ port: 587, service: "submission" });
    expect(markdown).toContain("| 993 | imaps |");
    expect(report.dns.provider).toBe("zonefile");
    expect(report.dns.zones.map((z) => z.domain)).toEqual([
      "corp.example.test",
      "example.org",
      "example.test",
    ]);
    const test = report.dns.zones.find((z) => z.domain === "example.test")?.records ?? [];
    expect(test.find((r) => r.type === "TLSA")?.name).toBe("_25._tcp.mail.example.test");
    expect(test.find((r) => r.name === "_dmarc.example.test")?.value).toBe(
      "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test; adkim=r; aspf=r",
    );
    expect(markdown).toContain("### example.org\n");
    expect(markdown).toContain(
      "| example.org | MX | 10 mail.example.test. | mail for the domain goes to the mail host |",
    );
  });

  it("lists DKIM selectors with key size, signing and where their age comes from", () => {
    expect(report.dkim.map((k) => [k.record, k.signing, k.algorithm, k.bits, k.source, k.ageDays])).toEqual([
      ["s2026a._domainkey.corp.example.test", true, "rsa", 2048, "imported", null],
      ["s2026a._domainkey.example.org", true, "rsa", 2048, "imported", null],
      ["s2026a._domainkey.example.test", true, "rsa", 2048, "imported", null],
      ["s2026b._domainkey.example.test", false, "rsa", 2048, "imported", null],
    ]);
    expect(report.dkim[0]?.ageFrom).toContain("unknown: an imported key");
    const p = planted();
    const dkim = buildAudit(input(p)).dkim;
    const generated = dkim.find((k) => k.record === "s2026b._domainkey.example.test");
    expect(generated).toMatchObject({ source: "generated", since: "2026-06-04T08:00:00Z", ageDays: 180 });
    expect(generated?.ageFrom).toBe("created time of mail-dkim-example.test-s2026b (the key)");
    const published = dkim.find((k) => k.record === "s2026a._domainkey.example.org");
    expect(published).toMatchObject({ source: "imported", since: "2026-09-02T10:00:00Z", ageDays: 90 });
    expect(published?.ageFrom).toContain("its Cloudflare record");
  });

  it("marks the records published at Cloudflare", () => {
    const dns = buildAudit(input(planted())).dns;
    expect(dns.provider).toBe("cloudflare");
    const org = dns.zones.find((z) => z.domain === "example.org")?.records ?? [];
    expect(org.filter((r) => "cloudflare" in r && r.cloudflare).map((r) => r.name)).toEqual([
      "s2026a._domainkey.example.org",
    ]);
  });

  it("shows the certificate's issuer and days left, and warns under 21 days", () => {
    expect(report.certificate).toMatchObject({
      issuer: "CN = Pebble Intermediate CA 4f76ab",
      notAfter: "2027-02-23T02:51:29.000Z",
      daysLeft: 83,
      warning: false,
      renewal: "renewal: cron /etc/cron.d/certbot",
    });
    expect(report.certificate.names).toContain("mta-sts.example.org");
    const late = renderAudit(input({ now: new Date("2027-02-10T00:00:00Z") }));
    expect(late.report.certificate).toMatchObject({ daysLeft: 13, warning: true });
    expect(late.report.summary.warnings).toContain("the certificate expires in 13 days (under 21)");
    expect(late.markdown).toContain("| Days left | 13 — WARNING: under 21 days |");
    const day20 = buildAudit(input({ now: new Date("2027-02-02T03:00:00Z") })).certificate;
    const day21 = buildAudit(input({ now: new Date("2027-02-02T02:00:00Z") })).certificate;
    expect([day20.daysLeft, day20.warning, day21.daysLeft, day21.warning]).toEqual([20, true, 21, false]);
  });

  it("shows the backup's storage, schedule, retention and maximum age", () => {
    expect(report.backup).toMatchObject({
      storage: { mode: "external", endpoint: "http://10.213.0.1:9000", bucket: "mail-example-test" },
      repository: "s3:http://10.213.0.1:9000/mail-example-test/mailstack",
      schedule: "daily at 03:15",
      keep: { last: 3, daily: 7, weekly: 4, monthly: 6 },
      maxAgeHours: 26,
      databaseDump: "mailserver",
    });
    expect(markdown).toContain("| Max age (hours) | 26 |");
    expect(markdown).toContain(
      "| Config push | mailstack-push: mail-backup-config: unchanged (last changed 2026-",
    );
    const none = buildAudit(input({ outputs: { ...(load("outputs.json") as object), backup: "none" } }));
    expect(none.backup).toEqual({ storage: "none" });
    expect(none.summary.warnings).toContain("no backup storage (mailstack:storageMode none)");
  });

  it("lists each policy rule with pass or its findings", () => {
    expect(report.policy.rules.map((r) => [r.name, r.passed, r.findings.length])).toEqual([
      ["secrets-encrypted", true, 0],
      ["tlsa-published", false, 1],
    ]);
    expect(markdown).toContain("| secrets-encrypted | mandatory | pass | secret inputs are encrypted |");
    expect(markdown).toContain("- tlsa-published: mail-dns: no TLSA record for mail.example.test");
  });

  it("runs the policy pack's rules over the export, encrypted values hidden from them", () => {
    const doc = load("export.json");
    const ports = [22, 25, 80, 443, 465, 587, 993, 995, 8080].map((port) => ({
      port,
      service: port === 22 ? "ssh" : `svc${port}`,
    }));
    named(doc, "mail-host-firewall-apply").inputs.stdin = renderPayload("mail-host-firewall", {}, [
      { path: "/etc/mailstack/firewall.rules", content: renderFirewallRules(ports) },
    ]);
    const resources = policyResources(readExport(doc));
    expect(resources.find((r) => r.name === "mail-host-facts")?.props.connection).toBe("[secret]");
    const findings = evaluate(resources, "sandbox");
    expect(findings.map((f) => [f.rule, f.urn.split("::").pop()])).toEqual([
      ["firewall-mail-ports-only", "mail-host-firewall-apply"],
    ]);
    const r = buildAudit(input({ export: doc, policy: { rules: RULES, findings } }));
    expect(r.summary.policy).toEqual({
      rules: RULES.length,
      passed: RULES.length - 1,
      mandatoryViolations: 1,
    });
    expect(r.summary.warnings).toContain("policy firewall-mail-ports-only (mandatory): 1 finding(s)");
  });

  it("lists component versions: mailstack, Pulumi, plugins, host packages, npm pins", () => {
    expect(report.versions).toMatchObject({
      mailstack: "0.1.0",
      pulumiCli: "v3.248.0",
      plugins: [{ name: "command", kind: "resource", version: "1.2.1" }],
      npm: { "@pulumi/pulumi": "3.248.0" },
    });
    expect(report.versions.packages).toContainEqual({ name: "postfix", version: "3.7.11-0+deb12u1" });
    expect(report.versions.packages.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        "dovecot-core",
        "rspamd",
        "clamav-daemon",
        "restic",
        "certbot",
        "postgresql",
        "ufw",
      ]),
    );
    expect(markdown).toContain("| plugin command (resource) | 1.2.1 |");
    expect(markdown).toContain("| postfix | 3.7.11-0+deb12u1 |");
  });

  it("takes the host packages from the versions output alone, never from the commands in the state", () => {
    const outputs = load("outputs.json") as Record<string, Json>;
    const versions = outputs.versions as Record<string, string>;
    // The commands still print their versions, but the output is gone: no package is listed.
    const { versions: _, ...withoutVersions } = outputs;
    const bare = buildAudit(input({ outputs: withoutVersions }));
    expect(bare.versions.packages).toEqual([]);
    expect(bare.summary.warnings).toContain(
      "the stack has no readable versions output: run pulumi up with this version of mailstack",
    );
    // The commands print nothing, and every package of the output is still there, sorted.
    const doc = load("export.json");
    for (const r of resources(doc)) {
      if (r.type === "command:remote:Command") (r.outputs as Record<string, Json>).stdout = "";
    }
    const fromOutput = buildAudit(input({ export: doc }));
    expect(fromOutput.versions.packages).toEqual(
      Object.entries(versions)
        .map(([name, version]) => ({ name, version }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(fromOutput.versions.packages.length).toBeGreaterThan(20);
  });

  it("ticks the deliverability checklist from the records, PTR and port 25 left to check by hand", () => {
    const lines = markdown.split("\n").filter((l) => l.startsWith("- ["));
    expect(lines).toContain(
      "- [ ] mail.example.test: PTR of 10.213.0.2 (by hand): ask the hosting provider for 10.213.0.2 → mail.example.test",
    );
    expect(lines.filter((l) => l.startsWith("- [ ]")).length).toBe(2);
    for (const d of ["example.test", "example.org", "corp.example.test"]) {
      for (const item of ["MX", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"]) {
        expect(
          lines.some((l) => l.startsWith(`- [x] ${d}: ${item}: `)),
          `${d} ${item}`,
        ).toBe(true);
      }
    }
    // Without TLSA and DMARC records the items are open, and warned about.
    const outputs = load("outputs.json") as { dnsZones: Record<string, string> };
    const zones = Object.fromEntries(
      Object.entries(outputs.dnsZones).map(([d, z]) => [
        d,
        z.replace(/^(_25\._tcp|_dmarc\.example\.org).*\n/gm, ""),
      ]),
    );
    const r = buildAudit(input({ outputs: { ...outputs, dnsZones: zones } }));
    expect(
      r.deliverability.checks.filter((c) => !c.ok && !c.manual).map((c) => `${c.scope} ${c.item}`),
    ).toEqual(["mail.example.test TLSA (DANE) for port 25", "example.org DMARC"]);
    expect(r.summary.warnings).toContain("example.org: DMARC: no DMARC record");
  });

  it("says what is missing when outputs are absent or secret", () => {
    const r = buildAudit(input({ outputs: { tls: "[secret]" } }));
    expect(r.summary.warnings).toContain("the certificate's expiry is not recorded");
    expect(r.summary.warnings).toContain(
      "the stack has no readable tls output: run pulumi up with this version of mailstack",
    );
    expect(r.certificate.daysLeft).toBeNull();
  });

  it("refuses an export of another stack, or no export at all", () => {
    expect(() => buildAudit(input({ stack: "prod" }))).toThrow(
      'the export is of stack "sandbox", not "prod"',
    );
    expect(() => buildAudit(input({ export: { version: 2 } }))).toThrow(
      "not the output of `pulumi stack export`",
    );
  });
});

describe("no secret reaches the report", () => {
  it("shows none of the secrets planted in the state and outputs", () => {
    const p = planted();
    const state = JSON.stringify(p);
    expect(PLANTED.every((s) => state.includes(s))).toBe(true);
    const { markdown, json } = renderAudit(input(p));
    // Booleans, not toContain: a failure must not print the secret.
    const leaks = PLANTED.filter((s) => markdown.includes(s) || json.includes(s));
    expect(leaks.length, "planted secrets found in the report").toBe(0);
    for (const mark of ["ciphertext", "BEGIN", "{ARGON2ID}", "PRIVATE KEY", SECRET_SIG]) {
      expect(markdown.includes(mark) || json.includes(mark), mark).toBe(false);
    }
  });

  it("refuses to render when a field it reads holds a secret's mark, quoting none of it", () => {
    const outputs = load("outputs.json") as { dnsZones: Record<string, string> };
    const zone = `example.test. 3600 IN TXT "${PEM.replace(/\n/g, " ")}" ; planted\n`;
    const leaky = { ...outputs, dnsZones: { ...outputs.dnsZones, "example.test": zone } };
    let message = "";
    try {
      renderAudit(input({ outputs: leaky }));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("the report would contain a secret's mark");
    expect(PLANTED.some((s) => message.includes(s))).toBe(false);
  });
});

describe("the audit command", () => {
  it("parses its flags, resolving paths against where the operator ran it", () => {
    expect(parseArgs(["--stack", "prod", "--out", "reports"], "/home/op")).toEqual({
      stack: "prod",
      out: "/home/op/reports",
    });
    expect(parseArgs(["--stack", "prod", "--export", "e.json", "--format", "json"], "/x")).toEqual({
      stack: "prod",
      out: "/x",
      format: "json",
      exportFile: "/x/e.json",
    });
    expect(() => parseArgs([], "/x")).toThrow("--stack is required");
    expect(() => parseArgs(["--stack", "a", "--show-secrets"], "/x")).toThrow(
      'unknown argument "--show-secrets"',
    );
    expect(() => parseArgs(["--stack", "a", "--format", "html"], "/x")).toThrow("--format is md or json");
    expect(() => parseArgs(["--stack", "a", "--outputs", "o.json"], "/x")).toThrow(
      "--outputs needs --export",
    );
    expect(() => parseArgs(["--stack", "--out", "d"], "/x")).toThrow("--stack needs a value");
  });

  it("writes both files from a saved export, through node and the project's compiler alone", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-audit-"));
    try {
      const r = spawnSync(
        "node",
        [
          ...["scripts/run-ts.js", "scripts/audit/cli.ts", "--stack", "sandbox", "--out", dir],
          ...[
            "--export",
            path.join(FIXTURES, "export.json"),
            "--outputs",
            path.join(FIXTURES, "outputs.json"),
          ],
        ],
        { cwd: ROOT, encoding: "utf8", env: { ...process.env, INIT_CWD: ROOT } },
      );
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("Users: 7 enabled, 1 disabled");
      expect(fs.readFileSync(path.join(dir, "audit-sandbox.md"), "utf8")).toContain(
        "## Deliverability checklist",
      );
      const doc = JSON.parse(fs.readFileSync(path.join(dir, "audit-sandbox.json"), "utf8"));
      expect(doc.summary.domains).toBe(4);
      const bad = spawnSync(
        "node",
        ["scripts/run-ts.js", "scripts/audit/cli.ts", "--stack", "x", "--export", "/nonexistent.json"],
        {
          cwd: ROOT,
          encoding: "utf8",
        },
      );
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/^cannot read the stack export from \/nonexistent\.json: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
