// The audit report of one stack: `pulumi stack export` plus the stack outputs
// become one JSON document and the same content as Markdown for a human
// auditor. Pure: the caller (cli.ts) runs Pulumi, evaluates the policy rules
// and passes the time. An allowlist: only the fields named here are read from
// the state, each checked for its type, and an encrypted value shows as
// "[secret]". As a last guard the rendered text is refused if it holds a mark
// of a secret (ciphertext, a PEM, a password hash).
// Each section is a module of its own here (domains.ts, dns.ts, dkim.ts,
// certificate.ts, backup.ts, policy.ts, versions.ts, deliverability.ts) that
// builds its part of the report and renders it; this file puts them together
// with the summary, the open ports and the database.
import { backupMarkdown, backupOf } from "./backup";
import { CERT_WARN_DAYS, certificateMarkdown, certificateOf } from "./certificate";
import { checksOf, deliverabilityMarkdown } from "./deliverability";
import { dkimMarkdown, dkimOf } from "./dkim";
import { dnsMarkdown, dnsOf } from "./dns";
import { domainsMarkdown, domainsOf } from "./domains";
import { table } from "./markdown";
import { readOutputs } from "./outputs";
import { type PolicyResults, policyMarkdown, policyOf } from "./policy";
import { readExport, SECRET, SECRET_SIG } from "./state";
import { versionsMarkdown, versionsOf } from "./versions";

export type { PolicyResults } from "./policy";

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
  const section = (key: keyof typeof heading, body: readonly string[]) => [
    `## ${heading[key]}`,
    "",
    ...body,
    "",
  ];
  return [
    `# Mail stack audit: ${r.stack}`,
    "",
    `Generated ${r.generatedAt} from \`pulumi stack export\` and \`pulumi stack output\` of stack \`${r.stack}\`` +
      ` (state written ${r.stateWrittenAt ?? "at an unrecorded time"}). It holds no secret: an encrypted value shows as ${SECRET}.`,
    "",
    ...section("summary", [
      ...table(["", ""], summaryRows(r)),
      "",
      ...(s.warnings.length === 0 ? ["No warnings."] : ["Warnings:", "", ...s.warnings.map((w) => `- ${w}`)]),
    ]),
    ...section("domains", domainsMarkdown(r.domains)),
    ...section("openPorts", [
      "What the firewall allows, from the openPorts output.",
      "",
      ...table(
        ["Port", "Service"],
        r.openPorts.map((p) => [p.port, p.service]),
      ),
    ]),
    ...section("dns", dnsMarkdown(r.dns)),
    ...section("dkim", dkimMarkdown(r.dkim)),
    ...section("certificate", certificateMarkdown(r.certificate)),
    ...section("backup", backupMarkdown(r.backup)),
    ...section(
      "database",
      table(
        ["", ""],
        [
          ["Mode", r.database.mode],
          ["PostgreSQL", r.database.postgresVersion],
          ["Migrations", r.database.migrations],
        ],
      ),
    ),
    ...section("policy", policyMarkdown(r.policy)),
    ...section("versions", versionsMarkdown(r.versions)),
    ...section("deliverability", deliverabilityMarkdown(r.deliverability.checks)),
  ].join("\n");
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
