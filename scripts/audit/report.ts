// The audit report of one stack: `pulumi stack export` plus the stack outputs
// become one JSON document and the same content as Markdown for a human
// auditor. Pure: the caller (cli.ts) runs Pulumi, evaluates the policy rules
// and passes the time. An allowlist: only the fields named here are read from
// the state, each checked for its type, and an encrypted value shows as
// "[secret]". As a last guard the rendered text is refused if it holds a mark
// of a secret (ciphertext, a PEM, a password hash).
import * as crypto from "node:crypto";
import { BACKUP_CONF } from "../../components/backup";
import { type PolicyFinding, type PolicyRule, parsePush } from "../../policy/rules";
import {
  type AccountRows,
  byType,
  child,
  type ExportedResource,
  isRecord,
  isSecret,
  type Json,
  parseAccountsSql,
  parseZoneFragment,
  readExport,
  SECRET,
  SECRET_SIG,
  type StackState,
  text,
  type ZoneRecord,
} from "./state";

/** A certificate closer to expiry than this many days is a warning. */
export const CERT_WARN_DAYS = 21;

/** Every section, in order: the JSON key and the Markdown heading. */
export const AUDIT_SECTIONS = [
  ["summary", "Summary"],
  ["domains", "Domains and accounts"],
  ["openPorts", "Open ports"],
  ["dns", "DNS records"],
  ["dkim", "DKIM selectors"],
  ["certificate", "Certificate"],
  ["backup", "Backup"],
  ["database", "Database"],
  ["policy", "Policy"],
  ["versions", "Component versions"],
  ["deliverability", "Deliverability checklist"],
] as const;

/** Marks of a secret: the rendered report must hold none of them. */
const LEAK_MARKS = [
  "ciphertext",
  SECRET_SIG,
  "-----BEGIN",
  "PRIVATE KEY",
  "{ARGON2ID}",
  "{BLF-CRYPT}",
  "{SHA512-CRYPT}",
  "$argon2",
] as const;

/** The rules of the policy pack and what its evaluate() found over the export (policy/rules.ts). */
export interface PolicyResults {
  readonly rules: readonly Pick<PolicyRule, "name" | "description" | "enforcementLevel">[];
  readonly findings: readonly PolicyFinding[];
}

export interface AuditInput {
  readonly stack: string;
  /** The parsed output of `pulumi stack export` (never with --show-secrets). */
  readonly export: unknown;
  /** The parsed output of `pulumi stack output --json` (secrets show as "[secret]"). */
  readonly outputs: unknown;
  readonly policy: PolicyResults;
  /** The report's time: certificate days and key ages count to it. */
  readonly now: Date;
  /** The npm dependencies package.json pins. */
  readonly pins: Readonly<Record<string, string>>;
}

export interface Check {
  /** A domain, or the mail host's name. */
  readonly scope: string;
  readonly item: string;
  readonly ok: boolean;
  /** Done outside the stack (PTR, port 25): never ticked from the state. */
  readonly manual: boolean;
  readonly detail: string;
}

export interface DomainAudit {
  readonly name: string;
  readonly active: boolean | null;
  readonly authType: string | null;
  readonly ldapBaseDn: string | null;
  readonly users: { readonly enabled: number; readonly disabled: number } | null;
  readonly aliases: readonly { readonly source: string; readonly destination: string }[] | null;
  readonly sendAsRights: number | null;
}

export interface DkimAudit {
  readonly domain: string;
  readonly selector: string;
  readonly record: string;
  readonly signing: boolean;
  readonly algorithm: string;
  readonly bits: number | null;
  readonly source: "generated" | "imported";
  readonly since: string | null;
  readonly ageDays: number | null;
  readonly ageFrom: string;
}

export interface BackupAudit {
  readonly storage: {
    readonly mode: string | null;
    readonly endpoint: string | null;
    readonly bucket: string | null;
    readonly region: string | null;
    readonly managed?: {
      readonly policy: string | null;
      readonly user: string | null;
      readonly versioning: string | null;
      readonly noncurrentVersionRetentionDays: number | null;
    };
  };
  readonly repository: string | null;
  readonly schedule: string | null;
  readonly keep: {
    readonly last: number | null;
    readonly daily: number | null;
    readonly weekly: number | null;
    readonly monthly: number | null;
  };
  readonly maxAgeHours: number | null;
  /** The database mailstack-backup dumps; "none" when it dumps none. */
  readonly databaseDump: string | null;
  /** The backup pushes' results at the last pulumi up, and when they last changed. */
  readonly lastDeployed: Readonly<
    Record<"config" | "secrets", { result: string | null; changed: string | null } | null>
  >;
  readonly liveStatus: string;
}

/** The typed outputs the report reads; anything else in the outputs is ignored. */
interface Outputs {
  readonly host?: string;
  readonly hostname?: string;
  readonly os?: string;
  readonly domains?: string[];
  readonly mailstackVersion?: string;
  readonly migrations?: string;
  readonly openPorts?: { port: number; service: string }[];
  readonly versions?: Record<string, string>;
  readonly database?: { mode: string; postgresVersion: number | null };
  readonly dkimRecords?: { name: string; value: string; signing: boolean }[];
  readonly dnsZones?: Record<string, string>;
  readonly deliverability?: { expectedPtr: Record<string, string>; outboundPort25: string };
  readonly tls?: { acmeServer: string; names: string[]; certificate: string; renewal: string };
  readonly backup?: Json;
}

const DAY = 86_400_000;

const str = (v: Json | undefined) => (typeof v === "string" ? v : undefined);
const num = (v: Json | undefined) => (typeof v === "number" ? v : undefined);
const list = <T>(v: Json | undefined, f: (x: Json) => T | undefined): T[] | undefined =>
  Array.isArray(v) ? v.map(f).filter((x): x is T => x !== undefined) : undefined;
const strings = (v: Json | undefined): Record<string, string> | undefined =>
  isRecord(v)
    ? Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (typeof x === "string" ? [[k, x]] : [])))
    : undefined;

/** The outputs the report knows, each type-checked. Pure. */
function readOutputs(raw: unknown): Outputs {
  const o: Record<string, Json> = isRecord(raw) ? raw : {};
  const field = (k: string) => (isSecret(o[k]) ? undefined : o[k]);
  const rec = (k: string) => {
    const v = field(k);
    return isRecord(v) ? v : undefined;
  };
  const tls = rec("tls");
  const deliverability = rec("deliverability");
  const database = rec("database");
  return {
    host: str(field("host")),
    hostname: str(field("hostname")),
    os: str(field("os")),
    domains: list(field("domains"), str),
    mailstackVersion: str(field("mailstackVersion")),
    migrations: str(field("migrations")),
    openPorts: list(field("openPorts"), (p) =>
      isRecord(p) && typeof p.port === "number" ? { port: p.port, service: str(p.service) ?? "" } : undefined,
    ),
    versions: strings(field("versions")),
    database: database && {
      mode: str(database.mode) ?? "",
      postgresVersion: num(database.postgresVersion) ?? null,
    },
    dkimRecords: list(field("dkimRecords"), (r) =>
      isRecord(r) && typeof r.name === "string" && typeof r.value === "string"
        ? { name: r.name, value: r.value, signing: r.signing === true }
        : undefined,
    ),
    dnsZones: strings(field("dnsZones")),
    deliverability: deliverability && {
      expectedPtr: strings(deliverability.expectedPtr) ?? {},
      outboundPort25: str(deliverability.outboundPort25) ?? "",
    },
    tls: tls && {
      acmeServer: str(tls.acmeServer) ?? "",
      names: list(tls.names, str) ?? [],
      certificate: str(tls.certificate) ?? "",
      renewal: str(tls.renewal) ?? "",
    },
    backup: field("backup"),
  };
}

/** Whole days from `from` (ISO) to `to`; null when `from` is not a time. */
function daysBetween(from: string | undefined, to: Date): number | null {
  const t = from === undefined ? Number.NaN : Date.parse(from);
  return Number.isNaN(t) ? null : Math.floor((to.getTime() - t) / DAY);
}

function domainsOf(state: StackState, out: Outputs): { source: string; list: DomainAudit[] } {
  const db = byType(state, "mailstack:database:MailDatabase");
  const sync = child(state, db, `${db?.name}-accounts`);
  const sql = text(sync?.inputs.stdin);
  const rows: AccountRows | undefined = sql && sql !== SECRET ? parseAccountsSql(sql) : undefined;
  if (!rows) {
    return {
      source: "the domains output only: the state holds no readable accounts sync",
      list: (out.domains ?? []).map((name) => ({
        name,
        active: null,
        authType: null,
        ldapBaseDn: null,
        users: null,
        aliases: null,
        sendAsRights: null,
      })),
    };
  }
  const inDomain = (address: string, d: string) => address.slice(address.lastIndexOf("@") + 1) === d;
  return {
    source: `the accounts sync's SQL (${sync?.name}, inputs.stdin): config's domains, users and aliases, no password hash`,
    list: rows.domains.map((d) => {
      const users = rows.users.filter((u) => inDomain(u.address, d.name));
      return {
        name: d.name,
        active: d.active,
        authType: d.authType,
        ldapBaseDn: d.ldapBaseDn,
        users: {
          enabled: users.filter((u) => u.enabled).length,
          disabled: users.filter((u) => !u.enabled).length,
        },
        aliases: rows.aliases.filter((a) => inDomain(a.source, d.name)),
        sendAsRights: rows.sendAs.filter((s) => inDomain(s.address, d.name)).length,
      };
    }),
  };
}

function dnsOf(state: StackState, out: Outputs) {
  const dns = byType(state, "mailstack:dns:MailDns");
  const cloudflare = state.resources.filter(
    (r) => r.type === "cloudflare:index/dnsRecord:DnsRecord" && r.parent === dns?.urn,
  );
  const published = (r: ZoneRecord) =>
    cloudflare.find((c) => str(c.inputs.name) === r.name && str(c.inputs.type) === r.type);
  return {
    provider: cloudflare.length > 0 ? "cloudflare" : "zonefile",
    source: "the dnsZones output (BIND fragments); Cloudflare records from the state",
    zones: Object.entries(out.dnsZones ?? {}).map(([domain, zone]) => ({
      domain,
      records: parseZoneFragment(zone).map((r) => ({
        ...r,
        ...(cloudflare.length > 0 ? { cloudflare: published(r) !== undefined } : {}),
      })),
    })),
    cloudflareRecords: cloudflare,
  };
}

/** The k= type and, for RSA, the modulus size of a DKIM record's key. Pure. */
function dkimKey(value: string): { algorithm: string; bits: number | null } {
  const tag = (t: string) => new RegExp(`(?:^|;)\\s*${t}=([^;\\s]*)`).exec(value)?.[1];
  const algorithm = tag("k") ?? "rsa";
  if (algorithm !== "rsa") return { algorithm, bits: algorithm === "ed25519" ? 256 : null };
  try {
    const key = crypto.createPublicKey({
      key: Buffer.from(tag("p") ?? "", "base64"),
      format: "der",
      type: "spki",
    });
    return { algorithm, bits: key.asymmetricKeyDetails?.modulusLength ?? null };
  } catch {
    return { algorithm, bits: null };
  }
}

function dkimOf(
  state: StackState,
  out: Outputs,
  cloudflare: readonly ExportedResource[],
  now: Date,
): DkimAudit[] {
  const dkim = byType(state, "mailstack:dkim:DkimKeys");
  return (out.dkimRecords ?? []).map((r) => {
    const at = r.name.indexOf("._domainkey.");
    const selector = r.name.slice(0, at);
    const domain = r.name.slice(at + "._domainkey.".length);
    // A generated key is a @pulumi/tls resource named by components/dkim.ts' dkimChildName.
    const generated = state.resources.find(
      (k) =>
        k.type === "tls:index/privateKey:PrivateKey" &&
        k.parent === dkim?.urn &&
        k.name === `${dkim?.name}-${domain}-${selector}`,
    );
    const record = cloudflare.find((c) => str(c.inputs.name) === r.name && str(c.inputs.type) === "TXT");
    const since = generated?.created ?? record?.created;
    return {
      domain,
      selector,
      record: r.name,
      signing: r.signing,
      ...dkimKey(r.value),
      source: generated ? "generated" : "imported",
      since: since ?? null,
      ageDays: daysBetween(since, now),
      ageFrom: generated?.created
        ? `created time of ${generated.name} (the key)`
        : record?.created
          ? `created time of ${record.name} (its Cloudflare record)`
          : "unknown: an imported key, and the state records no time for it",
    };
  });
}

function certificateOf(out: Outputs, now: Date) {
  const summary = out.tls?.certificate ?? "";
  const line = (re: RegExp) => re.exec(summary)?.[1]?.trim();
  const notAfter = line(/^notAfter=(.*)$/m);
  const expiry = notAfter === undefined ? Number.NaN : Date.parse(notAfter);
  const daysLeft = Number.isNaN(expiry) ? null : Math.floor((expiry - now.getTime()) / DAY);
  return {
    source: "the tls output: the certificate as the host had it at the last pulumi up",
    acmeServer: out.tls?.acmeServer ?? null,
    issuer: line(/^issuer=(.*)$/m) ?? null,
    notAfter: Number.isNaN(expiry) ? null : new Date(expiry).toISOString(),
    daysLeft,
    warning: daysLeft !== null && daysLeft < CERT_WARN_DAYS,
    names: out.tls?.names ?? [],
    spkiSha256: line(/^spki-sha256 ([0-9a-f]{64})$/m) ?? null,
    renewal: out.tls?.renewal ?? null,
  };
}

function backupOf(state: StackState, out: Outputs): BackupAudit | { readonly storage: "none" | null } {
  const b = out.backup;
  if (!isRecord(b)) return { storage: b === "none" ? "none" : null };
  const storage = isRecord(b.storage) ? b.storage : {};
  const managed = isRecord(storage.managed) ? storage.managed : undefined;
  const keep = isRecord(b.keep) ? b.keep : {};
  const component = byType(state, "mailstack:backup:Backup");
  const push = (role: string) => {
    const p = child(state, component, `${component?.name}-${role}`);
    return p ? { result: str(p.outputs.result) ?? null, changed: p.modified ?? null } : null;
  };
  const config = child(
    state,
    child(state, component, `${component?.name}-config`),
    `${component?.name}-config-apply`,
  );
  const payload = text(config?.inputs.stdin);
  const conf = (payload && parsePush(payload)?.files.get(BACKUP_CONF)) ?? "";
  const maxAge = /^MAX_AGE=(\d+)$/m.exec(conf)?.[1];
  const dump = /^DATABASE="(.*)"$/m.exec(conf)?.[1];
  return {
    storage: {
      mode: str(storage.mode) ?? null,
      endpoint: str(storage.endpoint) ?? null,
      bucket: str(storage.bucket) ?? null,
      region: str(storage.region) ?? null,
      ...(managed
        ? {
            managed: {
              policy: str(managed.policy) ?? null,
              user: str(managed.user) ?? null,
              versioning: str(managed.versioning) ?? null,
              noncurrentVersionRetentionDays: num(managed.noncurrentVersionRetentionDays) ?? null,
            },
          }
        : {}),
    },
    repository: str(b.repository) ?? null,
    schedule: str(b.schedule) ?? null,
    keep: {
      last: num(keep.last) ?? null,
      daily: num(keep.daily) ?? null,
      weekly: num(keep.weekly) ?? null,
      monthly: num(keep.monthly) ?? null,
    },
    maxAgeHours: maxAge === undefined ? null : Number(maxAge) / 3600,
    databaseDump: dump === undefined ? null : dump || "none",
    lastDeployed: { config: push("config"), secrets: push("secrets") },
    liveStatus: "not in the state: run `mailstack-backup status` on the host",
  };
}

function versionsOf(state: StackState, out: Outputs, pins: Readonly<Record<string, string>>) {
  const plugins = new Map<string, { name: string; kind: string; version: string }>();
  for (const p of state.plugins) plugins.set(`${p.kind} ${p.name} ${p.version}`, p);
  for (const r of state.resources.filter((x) => x.type.startsWith("pulumi:providers:"))) {
    const version = str(r.outputs.version) ?? str(r.inputs.version) ?? "";
    const name = r.type.slice("pulumi:providers:".length);
    plugins.set(`resource ${name} ${version}`, { name, kind: "resource", version });
  }
  return {
    mailstack: out.mailstackVersion ?? null,
    pulumiCli: state.cliVersion ?? null,
    plugins: [...plugins.values()].sort((a, b) => a.name.localeCompare(b.name)),
    packages: Object.entries(out.versions ?? {})
      .map(([name, version]) => ({ name, version }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    npm: Object.fromEntries(Object.entries(pins).sort(([a], [b]) => a.localeCompare(b))),
  };
}

function checksOf(
  out: Outputs,
  zones: readonly { domain: string; records: readonly ZoneRecord[] }[],
  dkim: readonly DkimAudit[],
): Check[] {
  const all = zones.flatMap((z) => z.records);
  const find = (name: string, type: string, prefix = "") =>
    all.find((r) => r.name === name && r.type === type && r.value.startsWith(prefix));
  const checks: Check[] = [];
  const add = (scope: string, item: string, found: ZoneRecord | undefined, missing: string) =>
    checks.push({
      scope,
      item,
      ok: found !== undefined,
      manual: false,
      detail: found ? `${found.name} ${found.type} ${found.value}` : missing,
    });
  const host = out.hostname ?? "";
  add(
    host,
    "A/AAAA of the mail host",
    find(host, "A") ?? find(host, "AAAA"),
    "not in these zones: publish it where the host's zone is served (mailstack:mailIpv4)",
  );
  add(host, "TLSA (DANE) for port 25", find(`_25._tcp.${host}`, "TLSA"), "not published (mailstack:tlsa)");
  const ptr = Object.entries(out.deliverability?.expectedPtr ?? {});
  for (const [ip, name] of ptr) {
    checks.push({
      scope: host,
      item: `PTR of ${ip}`,
      ok: false,
      manual: true,
      detail: `ask the hosting provider for ${ip} → ${name}`,
    });
  }
  if (ptr.length === 0) {
    checks.push({
      scope: host,
      item: "PTR",
      ok: false,
      manual: true,
      detail: "no address configured: set mailstack:mailIpv4",
    });
  }
  checks.push({
    scope: host,
    item: "outbound port 25",
    ok: false,
    manual: true,
    detail: out.deliverability?.outboundPort25 || "not recorded",
  });
  for (const { domain } of zones) {
    add(domain, "MX", find(domain, "MX"), "no MX record");
    add(domain, "SPF", find(domain, "TXT", "v=spf1"), "no SPF record");
    const signing = dkim.find((k) => k.domain === domain && k.signing);
    add(
      domain,
      "DKIM",
      signing && find(signing.record, "TXT", "v=DKIM1"),
      signing ? `${signing.record} is not published` : "no signing selector",
    );
    add(domain, "DMARC", find(`_dmarc.${domain}`, "TXT", "v=DMARC1"), "no DMARC record");
    const sts = find(`_mta-sts.${domain}`, "TXT", "v=STSv1");
    const covered = out.tls?.names.includes(`mta-sts.${domain}`) ?? false;
    add(
      domain,
      "MTA-STS",
      covered ? sts : undefined,
      sts ? `the certificate does not cover mta-sts.${domain}` : "no _mta-sts record",
    );
    add(domain, "TLS-RPT", find(`_smtp._tls.${domain}`, "TXT", "v=TLSRPTv1"), "no TLS-RPT record");
  }
  return checks;
}

function policyOf(policy: PolicyResults) {
  const rules = policy.rules.map((r) => {
    const findings = policy.findings
      .filter((f) => f.rule === r.name)
      .map((f) => ({ urn: f.urn, resource: f.urn.split("::").pop() ?? f.urn, message: f.message }));
    return { ...r, passed: findings.length === 0, findings };
  });
  return {
    source:
      "policy/rules.ts over the export's inputs, each encrypted value as [secret]: what only an encrypted value holds (a secret push's files) is checked by the policy pack at preview, where the values are known",
    rules,
    mandatoryViolations: policy.findings.filter((f) => f.enforcementLevel === "mandatory").length,
    advisoryFindings: policy.findings.filter((f) => f.enforcementLevel === "advisory").length,
  };
}

/** The whole report as data; the JSON document is exactly this. Pure. */
export function buildAudit(input: AuditInput) {
  const state = readExport(input.export);
  if (state.stack !== "" && state.stack !== input.stack) {
    throw new Error(`the export is of stack "${state.stack}", not "${input.stack}"`);
  }
  const out = readOutputs(input.outputs);
  const domains = domainsOf(state, out);
  const { cloudflareRecords, ...dns } = dnsOf(state, out);
  const dkim = dkimOf(state, out, cloudflareRecords, input.now);
  const certificate = certificateOf(out, input.now);
  const backup = backupOf(state, out);
  const policy = policyOf(input.policy);
  const checks = checksOf(out, dns.zones, dkim);

  const missing = (
    ["hostname", "openPorts", "dkimRecords", "dnsZones", "tls", "backup", "versions"] as const
  ).filter((k) => out[k] === undefined);
  const warnings = [
    ...missing.map(
      (k) => `the stack has no readable ${k} output: run pulumi up with this version of mailstack`,
    ),
    ...(certificate.daysLeft === null
      ? ["the certificate's expiry is not recorded"]
      : certificate.warning
        ? [`the certificate expires in ${certificate.daysLeft} days (under ${CERT_WARN_DAYS})`]
        : []),
    ...(backup.storage === "none" ? ["no backup storage (mailstack:storageMode none)"] : []),
    ...("schedule" in backup && backup.schedule === "off"
      ? ["backups are not scheduled (mailstack:backup)"]
      : []),
    ...policy.rules
      .filter((r) => !r.passed)
      .map((r) => `policy ${r.name} (${r.enforcementLevel}): ${r.findings.length} finding(s)`),
    ...checks.filter((c) => !c.ok && !c.manual).map((c) => `${c.scope}: ${c.item}: ${c.detail}`),
  ];
  const users = domains.list.reduce(
    (n, d) => ({
      enabled: n.enabled + (d.users?.enabled ?? 0),
      disabled: n.disabled + (d.users?.disabled ?? 0),
    }),
    { enabled: 0, disabled: 0 },
  );
  return {
    format: "mailstack-audit/1",
    stack: input.stack,
    generatedAt: input.now.toISOString(),
    stateWrittenAt: state.time ?? null,
    summary: {
      host: out.host ?? null,
      hostname: out.hostname ?? null,
      os: out.os ?? null,
      domains: domains.list.length,
      activeDomains: domains.list.filter((d) => d.active !== false).length,
      users,
      aliases: domains.list.reduce((n, d) => n + (d.aliases?.length ?? 0), 0),
      openPorts: (out.openPorts ?? []).map((p) => p.port),
      dkimSelectors: dkim.length,
      certificateDaysLeft: certificate.daysLeft,
      policy: {
        rules: policy.rules.length,
        passed: policy.rules.filter((r) => r.passed).length,
        mandatoryViolations: policy.mandatoryViolations,
      },
      warnings,
    },
    domains,
    openPorts: out.openPorts ?? [],
    dns,
    dkim,
    certificate,
    backup,
    database: {
      mode: out.database?.mode ?? null,
      postgresVersion: out.database?.postgresVersion ?? null,
      migrations: out.migrations ?? null,
    },
    policy,
    versions: versionsOf(state, out, input.pins),
    deliverability: {
      expectedPtr: out.deliverability?.expectedPtr ?? {},
      outboundPort25: out.deliverability?.outboundPort25 ?? null,
      checks,
    },
  };
}

export type AuditReport = ReturnType<typeof buildAudit>;

/** One Markdown table cell: no pipe or line break breaks the row. */
function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || v === "") return "—";
  return String(v).replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function table(head: readonly string[], rows: readonly (readonly (string | number | boolean | null)[])[]) {
  if (rows.length === 0) return ["(none)"];
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

/** A long value shortened for a table; the JSON has it whole. */
function short(v: string, max = 72): string {
  return v.length <= max ? v : `${v.slice(0, max)}… (${v.length} characters)`;
}

const date = (iso: string | null) => (iso === null ? "unknown" : iso.slice(0, 10));

/** The summary as label and value pairs: the top table, and what the command prints. Pure. */
export function summaryRows(r: AuditReport): [string, string | number][] {
  const s = r.summary;
  return [
    ["Host", `${s.hostname ?? "?"} (${s.host ?? "?"}), ${s.os ?? "os not recorded"}`],
    ["Domains", `${s.domains} (${s.activeDomains} active)`],
    ["Users", `${s.users.enabled} enabled, ${s.users.disabled} disabled`],
    ["Aliases", s.aliases],
    ["Open ports", s.openPorts.join(", ")],
    ["DKIM selectors", s.dkimSelectors],
    ["Certificate", s.certificateDaysLeft === null ? "expiry unknown" : `${s.certificateDaysLeft} days left`],
    [
      "Policy",
      `${s.policy.passed} of ${s.policy.rules} rules pass; ${s.policy.mandatoryViolations} mandatory violations`,
    ],
    ["Warnings", s.warnings.length],
  ];
}

/** The report for a human auditor. Pure. */
export function renderMarkdown(r: AuditReport): string {
  const s = r.summary;
  const heading = Object.fromEntries(AUDIT_SECTIONS) as Record<(typeof AUDIT_SECTIONS)[number][0], string>;
  const lines: string[] = [
    `# Mail stack audit: ${r.stack}`,
    "",
    `Generated ${r.generatedAt} from \`pulumi stack export\` and \`pulumi stack output\` of stack \`${r.stack}\`` +
      ` (state written ${r.stateWrittenAt ?? "at an unrecorded time"}). It holds no secret: an encrypted value shows as ${SECRET}.`,
    "",
    `## ${heading.summary}`,
    "",
    ...table(["", ""], summaryRows(r)),
    "",
    ...(s.warnings.length === 0 ? ["No warnings."] : ["Warnings:", "", ...s.warnings.map((w) => `- ${w}`)]),
    "",
    `## ${heading.domains}`,
    "",
    `From ${r.domains.source}. Users of LDAP domains that are not in config are not counted.`,
    "",
    ...table(
      ["Domain", "Active", "Auth", "Users enabled", "Users disabled", "Aliases", "Send-as rights"],
      r.domains.list.map((d) => [
        d.name,
        d.active,
        d.authType === "ldap" ? `ldap (${d.ldapBaseDn ?? "no base DN"})` : d.authType,
        d.users?.enabled ?? null,
        d.users?.disabled ?? null,
        d.aliases?.length ?? null,
        d.sendAsRights,
      ]),
    ),
    "",
    "Aliases:",
    "",
    ...table(
      ["Source", "Destination"],
      r.domains.list.flatMap((d) => (d.aliases ?? []).map((a) => [a.source, a.destination])),
    ),
    "",
    `## ${heading.openPorts}`,
    "",
    "What the firewall allows, from the openPorts output.",
    "",
    ...table(
      ["Port", "Service"],
      r.openPorts.map((p) => [p.port, p.service]),
    ),
    "",
    `## ${heading.dns}`,
    "",
    `Provider: ${r.dns.provider}. From ${r.dns.source}.`,
  ];
  for (const z of r.dns.zones) {
    const cf = r.dns.provider === "cloudflare";
    lines.push(
      "",
      `### ${z.domain}`,
      "",
      ...table(
        ["Name", "Type", "Value", "Why", ...(cf ? ["At Cloudflare"] : [])],
        z.records.map((x) => [
          x.name,
          x.type,
          short(x.value),
          x.why,
          ...(cf ? ["cloudflare" in x ? x.cloudflare === true : null] : []),
        ]),
      ),
    );
  }
  lines.push(
    "",
    `## ${heading.dkim}`,
    "",
    "From the dkimRecords output; the age comes from the state's created times (see each row).",
    "",
    ...table(
      ["Domain", "Selector", "Signs", "Key", "Source", "Since", "Age (days)", "Age from"],
      r.dkim.map((k) => [
        k.domain,
        k.selector,
        k.signing,
        `${k.algorithm}${k.bits === null ? "" : ` ${k.bits}`}`,
        k.source,
        date(k.since),
        k.ageDays,
        k.ageFrom,
      ]),
    ),
    "",
    `## ${heading.certificate}`,
    "",
    `From ${r.certificate.source}.`,
    "",
    ...table(
      ["", ""],
      [
        ["ACME server", r.certificate.acmeServer],
        ["Issuer", r.certificate.issuer],
        ["Expires", r.certificate.notAfter],
        [
          "Days left",
          r.certificate.daysLeft === null
            ? null
            : `${r.certificate.daysLeft}${r.certificate.warning ? ` — WARNING: under ${CERT_WARN_DAYS} days` : ""}`,
        ],
        ["Names", r.certificate.names.join(", ")],
        ["Key (SPKI SHA-256)", r.certificate.spkiSha256],
        ["Renewal", r.certificate.renewal],
      ],
    ),
    "",
    `## ${heading.backup}`,
    "",
  );
  const b = r.backup;
  if (!("keep" in b)) {
    lines.push(b.storage === "none" ? "No backup storage (mailstack:storageMode none)." : "Not recorded.");
  } else {
    const managed = b.storage.managed;
    const deployed = (p: { result: string | null; changed: string | null } | null) =>
      p === null ? null : `${p.result ?? "?"} (last changed ${p.changed ?? "at an unrecorded time"})`;
    lines.push(
      ...table(
        ["", ""],
        [
          [
            "Storage",
            `${b.storage.mode ?? "?"}: ${b.storage.endpoint ?? "?"}, bucket ${b.storage.bucket ?? "?"} (${b.storage.region ?? "?"})`,
          ],
          ...(managed
            ? [
                [
                  "Managed on MinIO",
                  `policy ${managed.policy}, user ${managed.user}, versioning ${managed.versioning}, old versions kept ${managed.noncurrentVersionRetentionDays} days`,
                ] as const,
              ]
            : []),
          ["Repository", b.repository],
          ["Schedule", b.schedule],
          [
            "Retention",
            `last ${b.keep.last}, daily ${b.keep.daily}, weekly ${b.keep.weekly}, monthly ${b.keep.monthly}`,
          ],
          ["Max age (hours)", b.maxAgeHours],
          ["Database dump", b.databaseDump],
          ["Config push", deployed(b.lastDeployed.config)],
          ["Secrets push", deployed(b.lastDeployed.secrets)],
          ["Live status", b.liveStatus],
        ],
      ),
    );
  }
  lines.push(
    "",
    `## ${heading.database}`,
    "",
    ...table(
      ["", ""],
      [
        ["Mode", r.database.mode],
        ["PostgreSQL", r.database.postgresVersion],
        ["Migrations", r.database.migrations],
      ],
    ),
    "",
    `## ${heading.policy}`,
    "",
    `${r.policy.mandatoryViolations} mandatory violations, ${r.policy.advisoryFindings} advisory findings. From ${r.policy.source}.`,
    "",
    ...table(
      ["Rule", "Level", "Result", "Description"],
      r.policy.rules.map((p) => [
        p.name,
        p.enforcementLevel,
        p.passed ? "pass" : `${p.findings.length} finding(s)`,
        p.description,
      ]),
    ),
    ...r.policy.rules.flatMap((p) => p.findings.map((f) => `- ${p.name}: ${f.resource}: ${f.message}`)),
    "",
    `## ${heading.versions}`,
    "",
    ...table(
      ["Component", "Version"],
      [
        ["mailstack", r.versions.mailstack],
        ["Pulumi CLI (wrote the state)", r.versions.pulumiCli],
        ...r.versions.plugins.map((p) => [`plugin ${p.name} (${p.kind})`, p.version] as const),
        ...Object.entries(r.versions.npm).map(([n, v]) => [`npm ${n} (package.json)`, v] as const),
      ],
    ),
    "",
    "Packages on the host, from the versions output: what each component's install printed when it last ran.",
    "",
    ...table(
      ["Package", "Version"],
      r.versions.packages.map((p) => [p.name, p.version]),
    ),
    "",
    `## ${heading.deliverability}`,
    "",
    "Ticked: the stack publishes it. PTR and port 25 are set at the hosting provider and always need a check by hand.",
    "",
    ...r.deliverability.checks.map(
      (c) =>
        `- [${c.ok ? "x" : " "}] ${c.scope}: ${c.item}${c.manual ? " (by hand)" : ""}: ${short(c.detail)}`,
    ),
    "",
  );
  return lines.join("\n");
}

/** The report as Markdown and JSON; throws, quoting nothing, if either holds a mark of a secret. Pure. */
export function renderAudit(input: AuditInput): { report: AuditReport; markdown: string; json: string } {
  const report = buildAudit(input);
  const rendered = { report, markdown: renderMarkdown(report), json: `${JSON.stringify(report, null, 2)}\n` };
  for (const mark of LEAK_MARKS) {
    if (rendered.markdown.includes(mark) || rendered.json.includes(mark)) {
      throw new Error(
        `audit: the report would contain a secret's mark (${JSON.stringify(mark)}); nothing written`,
      );
    }
  }
  return rendered;
}
