// The DNS records of the mail domains, as pure data: MX, the mail host's
// A/AAAA, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, RFC 6186 SRV, autoconfig and
// autodiscover, CAA, and optionally TLSA (DANE). Both DNS providers (src/concerns/dns/component.ts) are fed from this
// one list: Cloudflare records, and a BIND zone fragment for DNS hosted
// elsewhere (and for the sandbox). Nothing here calls Pulumi.
import * as crypto from "node:crypto";
import { splitTxt } from "../dkim/render";

export type DnsRecordType = "A" | "AAAA" | "MX" | "TXT" | "CNAME" | "SRV" | "CAA" | "TLSA";

export interface DnsRecord {
  /** The mail domain (zone) the record belongs to. */
  readonly zone: string;
  /** Fully qualified owner name, without the trailing dot. */
  readonly name: string;
  readonly type: DnsRecordType;
  /**
   * The value: an address, a target host (no trailing dot), the TXT text
   * unquoted and unsplit, "<flags> <tag> <value>" for CAA, "<usage>
   * <selector> <matching type> <hex>" for TLSA.
   */
  readonly value: string;
  /** MX preference; SRV priority. */
  readonly priority?: number;
  /** SRV only. */
  readonly srv?: { readonly weight: number; readonly port: number };
  /** Why the record exists, for the zone file and audit output. */
  readonly why: string;
}

export interface SpfSettings {
  /** Extra senders, as include: domains (each costs at least one DNS lookup). */
  readonly includes: readonly string[];
  /** What other senders get: -all (fail) or ~all (softfail). */
  readonly all: "-all" | "~all";
}

export interface DmarcSettings {
  readonly policy: "none" | "quarantine" | "reject";
  /** For subdomains; default the same as policy. */
  readonly subdomainPolicy?: "none" | "quarantine" | "reject";
  /** Aggregate report addresses, each mailto:. */
  readonly rua: readonly string[];
  /** Failure report addresses, each mailto:. */
  readonly ruf: readonly string[];
  /** Percent of failing mail the policy applies to. */
  readonly pct: number;
  /** DKIM and SPF alignment: relaxed or strict. */
  readonly adkim: "r" | "s";
  readonly aspf: "r" | "s";
}

export interface MtaStsSettings {
  readonly mode: "enforce" | "testing" | "none";
  /** Seconds senders may cache the policy. */
  readonly maxAge: number;
}

export interface DnsRecordsArgs {
  /** The mail host's name: the MX target and every service's address. */
  readonly hostname: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** The active mail domains. */
  readonly domains: readonly string[];
  readonly spf: SpfSettings;
  readonly dmarc: DmarcSettings;
  readonly mtaSts: MtaStsSettings;
  /** Where TLS-RPT reports go (mailto:). */
  readonly tlsRptRua: readonly string[];
  /** The CA allowed to issue for the mail host (CAA issue), e.g. letsencrypt.org. */
  readonly caaIssuer: string;
  /** Every published DKIM selector's record (src/concerns/dkim/component.ts). */
  readonly dkim: readonly { readonly name: string; readonly value: string }[];
  /** SHA-256 (hex) of the mail host's certificate key: publishes TLSA 3 1 1 for port 25. Default none. */
  readonly tlsaSpki?: string;
}

export const DEFAULT_SPF: SpfSettings = { includes: [], all: "-all" };
export const DEFAULT_DMARC: DmarcSettings = {
  policy: "quarantine",
  rua: [],
  ruf: [],
  pct: 100,
  adkim: "r",
  aspf: "r",
};
export const DEFAULT_MTA_STS: MtaStsSettings = { mode: "testing", maxAge: 604800 };

/** SPF terms that cost a DNS lookup (RFC 7208 4.6.4), of which at most 10 are allowed. */
const SPF_LOOKUP_TERMS = /^(include:|a$|a:|a\/|mx$|mx:|mx\/|ptr|exists:|redirect=)/;
const HOST = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** The SPF record of a domain. Pure. */
export function spfValue(spf: SpfSettings): string {
  return ["v=spf1", "mx", ...spf.includes.map((i) => `include:${i}`), spf.all].join(" ");
}

/** How many DNS lookups an SPF record needs at its top level. Pure. */
export function spfLookups(value: string): number {
  return value
    .split(/\s+/)
    .map((t) => t.replace(/^[+?~-]/, ""))
    .filter((t) => SPF_LOOKUP_TERMS.test(t)).length;
}

/** The DMARC record. Pure. */
export function dmarcValue(d: DmarcSettings): string {
  return [
    "v=DMARC1",
    `p=${d.policy}`,
    ...(d.subdomainPolicy ? [`sp=${d.subdomainPolicy}`] : []),
    ...(d.rua.length > 0 ? [`rua=${d.rua.join(",")}`] : []),
    ...(d.ruf.length > 0 ? [`ruf=${d.ruf.join(",")}`] : []),
    ...(d.pct !== 100 ? [`pct=${d.pct}`] : []),
    `adkim=${d.adkim}`,
    `aspf=${d.aspf}`,
  ].join("; ");
}

/** The MTA-STS policy file nginx serves at mta-sts.<domain>/.well-known/mta-sts.txt. Pure. */
export function mtaStsPolicy(hostname: string, m: MtaStsSettings): string {
  return `version: STSv1\nmode: ${m.mode}\nmx: ${hostname}\nmax_age: ${m.maxAge}\n`;
}

/** The policy's id for the _mta-sts TXT record: it changes whenever the policy does. Pure. */
export function mtaStsId(policy: string): string {
  return crypto.createHash("sha256").update(policy).digest("hex").slice(0, 20);
}

const MAILTO = /^mailto:[^@\s,;!]+@[^@\s,;!]+$/;

/** The problems of SPF settings (mailstack:spf); empty when usable. Pure. */
export function spfProblems(spf: SpfSettings): string[] {
  const problems: string[] = [];
  if (!Array.isArray(spf.includes)) return ["includes must be a list of domains"];
  for (const i of spf.includes) if (!HOST.test(String(i))) problems.push(`include "${i}" is not a domain`);
  if (spf.all !== "-all" && spf.all !== "~all") problems.push(`all "${spf.all}" must be -all or ~all`);
  const lookups = spfLookups(spfValue(spf));
  if (lookups > 10)
    problems.push(`needs ${lookups} DNS lookups, more than the 10 receivers allow (RFC 7208); drop includes`);
  return problems;
}

/** The problems of DMARC settings (mailstack:dmarc); empty when usable. Pure. */
export function dmarcProblems(d: DmarcSettings): string[] {
  const problems: string[] = [];
  const policies = ["none", "quarantine", "reject"];
  if (!policies.includes(d.policy)) problems.push(`policy "${d.policy}" must be none, quarantine or reject`);
  if (d.subdomainPolicy !== undefined && !policies.includes(d.subdomainPolicy)) {
    problems.push(`subdomainPolicy "${d.subdomainPolicy}" must be none, quarantine or reject`);
  }
  for (const k of ["rua", "ruf"] as const) {
    if (!Array.isArray(d[k])) problems.push(`${k} must be a list of mailto: addresses`);
    else
      for (const a of d[k]) if (!MAILTO.test(String(a))) problems.push(`${k} "${a}" must be mailto:address`);
  }
  if (!Number.isInteger(d.pct) || d.pct < 0 || d.pct > 100)
    problems.push(`pct ${d.pct} must be a whole number from 0 to 100`);
  for (const k of ["adkim", "aspf"] as const)
    if (d[k] !== "r" && d[k] !== "s") problems.push(`${k} "${d[k]}" must be r or s`);
  return problems;
}

/** The problems of MTA-STS settings (mailstack:mtaSts); empty when usable. Pure. */
export function mtaStsProblems(m: MtaStsSettings): string[] {
  const problems: string[] = [];
  if (!["enforce", "testing", "none"].includes(m.mode))
    problems.push(`mode "${m.mode}" must be enforce, testing or none`);
  if (!Number.isInteger(m.maxAge) || m.maxAge < 86400 || m.maxAge > 31557600) {
    problems.push(`maxAge ${m.maxAge} must be from 86400 (a day) to 31557600 seconds`);
  }
  return problems;
}

/** Every problem of the settings, each naming its config key; empty when usable. Pure. */
export function dnsProblems(args: DnsRecordsArgs): string[] {
  const problems: string[] = [];
  if (!HOST.test(args.hostname))
    problems.push(`hostname "${args.hostname}" is not a host name (mailstack:hostname)`);
  for (const [key, list] of [
    ["spf", spfProblems(args.spf)],
    ["dmarc", dmarcProblems(args.dmarc)],
    ["mtaSts", mtaStsProblems(args.mtaSts)],
  ] as const) {
    for (const p of list) problems.push(`${key}: ${p} (mailstack:${key})`);
  }
  for (const a of args.tlsRptRua)
    if (!MAILTO.test(a)) problems.push(`TLS-RPT rua "${a}" must be mailto:address`);
  if (!HOST.test(args.caaIssuer))
    problems.push(`CAA issuer "${args.caaIssuer}" is not a domain (mailstack:caaIssuer)`);
  if (args.tlsaSpki !== undefined && !/^[0-9a-f]{64}$/.test(args.tlsaSpki)) {
    problems.push(`TLSA key hash "${args.tlsaSpki}" is not a SHA-256 in hex (mailstack:tlsa)`);
  }
  for (const r of args.dkim) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\._domainkey\./.test(r.name)) {
      problems.push(`DKIM record "${r.name}" has an invalid selector (mailstack:dkim)`);
    }
  }
  return problems;
}

/** The zone (managed domain) a name belongs to, or undefined. Pure. */
export function zoneOf(name: string, domains: readonly string[]): string | undefined {
  return [...domains].sort((a, b) => b.length - a.length).find((d) => name === d || name.endsWith(`.${d}`));
}

/** Every record, in a stable order. Throws on bad settings. Pure. */
export function dnsRecords(args: DnsRecordsArgs): DnsRecord[] {
  const problems = dnsProblems(args);
  if (problems.length > 0) throw new Error(`dns: ${problems.join("; ")}`);
  const host = args.hostname;
  const out: DnsRecord[] = [];
  const hostZone = zoneOf(host, args.domains);
  if (hostZone) {
    if (args.ipv4)
      out.push({ zone: hostZone, name: host, type: "A", value: args.ipv4, why: "the mail host" });
    if (args.ipv6)
      out.push({ zone: hostZone, name: host, type: "AAAA", value: args.ipv6, why: "the mail host" });
    out.push({
      zone: hostZone,
      name: host,
      type: "CAA",
      value: `0 issue "${args.caaIssuer}"`,
      why: "only this CA may issue the mail host's certificate",
    });
    if (args.tlsaSpki !== undefined) {
      out.push({
        zone: hostZone,
        name: `_25._tcp.${host}`,
        type: "TLSA",
        value: `3 1 1 ${args.tlsaSpki}`,
        why: "DANE: the key of the mail host's certificate (DANE-EE, SPKI, SHA-256)",
      });
    }
  }
  const policy = mtaStsPolicy(host, args.mtaSts);
  for (const d of args.domains) {
    const rec = (
      name: string,
      type: DnsRecordType,
      value: string,
      why: string,
      extra: Partial<DnsRecord> = {},
    ) => out.push({ zone: d, name, type, value, why, ...extra });
    rec(d, "MX", host, "mail for the domain goes to the mail host", { priority: 10 });
    rec(d, "TXT", spfValue(args.spf), "SPF: who may send as the domain");
    rec(`_dmarc.${d}`, "TXT", dmarcValue(args.dmarc), "DMARC policy");
    rec(`_mta-sts.${d}`, "TXT", `v=STSv1; id=${mtaStsId(policy)}`, "MTA-STS: the policy's id");
    rec(`mta-sts.${d}`, "CNAME", host, "MTA-STS: the policy's web host");
    rec(
      `_smtp._tls.${d}`,
      "TXT",
      `v=TLSRPTv1; rua=${args.tlsRptRua.join(",")}`,
      "TLS-RPT: where senders report TLS failures",
    );
    for (const [svc, port] of [
      ["_submission", 587],
      ["_submissions", 465],
      ["_imaps", 993],
      ["_pop3s", 995],
    ] as const) {
      rec(`${svc}._tcp.${d}`, "SRV", host, `RFC 6186: ${svc.slice(1)} for mail clients`, {
        priority: 0,
        srv: { weight: 1, port },
      });
    }
    rec(`autoconfig.${d}`, "CNAME", host, "Thunderbird autoconfig");
    rec(`autodiscover.${d}`, "CNAME", host, "Outlook autodiscover");
    rec(`_autodiscover._tcp.${d}`, "SRV", host, "Outlook autodiscover", {
      priority: 0,
      srv: { weight: 1, port: 443 },
    });
  }
  for (const k of args.dkim) {
    const zone = zoneOf(k.name, args.domains);
    if (zone) out.push({ zone, name: k.name, type: "TXT", value: k.value, why: "DKIM public key" });
  }
  const seen = new Set<string>();
  for (const r of out) {
    const key = recordKey(r);
    if (seen.has(key)) throw new Error(`dns: two records ${key}`);
    seen.add(key);
  }
  return out;
}

/** A record's stable identity: type and name (one record of each per name here). Pure. */
export function recordKey(r: DnsRecord): string {
  return `${r.type} ${r.name}`;
}

/** A TXT value as DNS strings: quoted, escaped, split into pieces of at most 255 bytes. Pure. */
export function txtStrings(value: string): string {
  return splitTxt(value)
    .map((p) => `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`)
    .join(" ");
}

/** The RDATA of a record in zone-file syntax. Pure. */
export function rdata(r: DnsRecord): string {
  switch (r.type) {
    case "A":
    case "AAAA":
    case "CAA":
    case "TLSA":
      return r.value;
    case "CNAME":
      return `${r.value}.`;
    case "MX":
      return `${r.priority ?? 10} ${r.value}.`;
    case "SRV":
      return `${r.priority ?? 0} ${r.srv?.weight ?? 1} ${r.srv?.port ?? 0} ${r.value}.`;
    case "TXT":
      return txtStrings(r.value);
    default: {
      const never: never = r.type;
      throw new Error(`unknown record type ${never}`);
    }
  }
}

/** The BIND zone fragment of one zone: every record with an absolute name. Pure. */
export function zoneFragment(zone: string, records: readonly DnsRecord[], ttl: number): string {
  const lines = records
    .filter((r) => r.zone === zone)
    .map((r) => `${r.name}. ${ttl} IN ${r.type} ${rdata(r)} ; ${r.why}`);
  return [
    `; mailstack: the mail records of ${zone} (add SOA and NS where the zone is served)`,
    ...lines,
    "",
  ].join("\n");
}
