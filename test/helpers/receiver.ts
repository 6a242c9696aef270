// What a receiving mail server asks DNS about a message, and what it
// concludes: SPF of the envelope (pyspf), the message's DKIM signatures
// (dkimpy), DMARC alignment of both with the From domain (here), and plain
// lookups. Debian's Python libraries do the protocol work in
// test/helpers/dns-check.py, every lookup pointed at a throwaway NSD (test/helpers/nsd.ts)
// and at nothing else. Plain functions: the contracts' it blocks call them
// with a message from the sandbox, and they run as well on one signed locally.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "../../src/core/template";
import { type TestNsd, zoneFile } from "./nsd";

/** Debian's Python, which has the libraries; not whatever python3 is first on PATH. */
const PYTHON = "/usr/bin/python3";
const DNS_CHECK = path.join(ROOT, "test", "helpers", "dns-check.py");

/** What NSD answers for one name and type. */
export interface Answer {
  readonly name: string;
  readonly type: string;
  readonly rcode: "NOERROR" | "NXDOMAIN" | "SERVFAIL";
  /** Each record's RDATA in zone-file syntax, sorted. */
  readonly served: string[];
  /** TXT only: each record's strings, unjoined. */
  readonly strings: string[][];
}

/** A record set of a zone file next to NSD's answer for its name and type. */
export interface ServedRecordSet extends Answer {
  readonly zone: string;
  /** The RDATA as the zone file says (parsed by dnspython, not by NSD), sorted. */
  readonly expected: string[];
}

/** pyspf's verdict on an envelope (RFC 7208 results: pass, fail, softfail, neutral, none, ...). */
export interface SpfResult {
  readonly result: string;
  readonly explanation: string;
  /** The domain SPF checked: MAIL FROM's, or HELO's for a null sender. */
  readonly domain: string;
}

/** What a message's own headers say: its From domain and each DKIM signature's verdict. */
export interface MessageCheck {
  readonly from: string;
  readonly dkim: { readonly result: "pass" | "fail"; readonly d: string; readonly s: string }[];
}

/** What an SMTP receiver knows of the sending side. */
export interface Envelope {
  readonly ip: string;
  readonly mailFrom: string;
  readonly helo: string;
}

function dnsCheck<T>(nsd: TestNsd, mode: string, args: readonly string[], input: string): T {
  const r = spawnSync(PYTHON, [DNS_CHECK, mode, String(nsd.port), ...args], {
    input,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? r.stderr.trim();
    const fix = /ModuleNotFoundError|ENOENT/.test(why)
      ? "; install Debian's libraries: apt-get install python3-dnspython python3-spf python3-dkim"
      : "";
    throw new Error(`test/helpers/dns-check.py ${mode} failed: ${why}${fix}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** Every record set of each zone (name -> fragment, as startNsd takes it) and what NSD serves for it. */
export function servedRecordSets(nsd: TestNsd, zones: Readonly<Record<string, string>>): ServedRecordSet[] {
  const files = Object.fromEntries(Object.entries(zones).map(([zone, f]) => [zone, zoneFile(zone, f)]));
  return dnsCheck(nsd, "served", [], JSON.stringify(files));
}

/** NSD's answer for each [name, type]. */
export function lookup(nsd: TestNsd, queries: readonly (readonly [string, string])[]): Answer[] {
  return dnsCheck(nsd, "query", [], JSON.stringify(queries));
}

/** SPF of an envelope, as a receiver asking NSD evaluates it. */
export function checkSpf(nsd: TestNsd, e: Envelope): SpfResult {
  return dnsCheck(nsd, "spf", [e.ip, e.mailFrom, e.helo], "");
}

/** The From domain and DKIM signatures of a message, keys looked up at NSD. */
export function checkMessage(nsd: TestNsd, message: string): MessageCheck {
  return dnsCheck(nsd, "message", [], message);
}

export interface DmarcResult {
  readonly result: "pass" | "fail" | "none";
  /** The record used, and the domain it was found at. */
  readonly record?: string;
  readonly recordDomain?: string;
  /** The policy that applies to the From domain (p, or sp for a subdomain). */
  readonly policy?: string;
}

/** What a receiver concludes of a message. */
export interface Authentication {
  readonly from: string;
  readonly spf: SpfResult;
  readonly dkim: MessageCheck["dkim"];
  readonly dmarc: DmarcResult;
}

/**
 * The organizational domain: the last two labels. Right for the test domains,
 * whose suffixes (.test, .org) are one label; a real receiver asks the Public
 * Suffix List. Pure.
 */
export function orgDomain(domain: string): string {
  return domain.toLowerCase().split(".").slice(-2).join(".");
}

/** DMARC alignment (RFC 7489 3.1): strict is the same name, relaxed the same organizational domain. Pure. */
export function aligned(fromDomain: string, authenticated: string, mode: string): boolean {
  const a = fromDomain.toLowerCase();
  const b = authenticated.toLowerCase();
  return mode === "s" ? a === b : orgDomain(a) === orgDomain(b);
}

/** The tags of a DMARC record, or undefined when the text is not one. Pure. */
export function dmarcTags(text: string): Record<string, string> | undefined {
  const tags = Object.fromEntries(
    text
      .split(";")
      .map((t) => t.trim())
      .filter((t) => t.includes("="))
      .map((t) => {
        const i = t.indexOf("=");
        return [t.slice(0, i).trim().toLowerCase(), t.slice(i + 1).trim()];
      }),
  );
  return tags.v === "DMARC1" && tags.p !== undefined ? tags : undefined;
}

/**
 * The DMARC result (RFC 7489 6.6): pass when SPF or a DKIM signature passes
 * for a domain aligned with From, under the record's adkim/aspf. Pure.
 */
export function dmarcVerdict(
  from: string,
  found: { readonly domain: string; readonly record: string } | undefined,
  spf: SpfResult,
  dkim: MessageCheck["dkim"],
): DmarcResult {
  const tags = found ? dmarcTags(found.record) : undefined;
  if (!found || !tags) return { result: "none" };
  const spfOk = spf.result === "pass" && aligned(from, spf.domain, tags.aspf ?? "r");
  const dkimOk = dkim.some((s) => s.result === "pass" && aligned(from, s.d, tags.adkim ?? "r"));
  return {
    result: spfOk || dkimOk ? "pass" : "fail",
    record: found.record,
    recordDomain: found.domain,
    policy: found.domain === from ? tags.p : (tags.sp ?? tags.p),
  };
}

/** The DMARC record of a From domain (RFC 7489 6.6.3): at _dmarc.<from>, else at its org domain. */
export function dmarcRecord(
  nsd: TestNsd,
  from: string,
): { readonly domain: string; readonly record: string } | undefined {
  for (const domain of [...new Set([from, orgDomain(from)])]) {
    const [answer] = lookup(nsd, [[`_dmarc.${domain}`, "TXT"]]);
    const records = (answer?.strings ?? []).map((s) => s.join("")).filter((t) => dmarcTags(t) !== undefined);
    // More than one record is as good as none.
    if (records.length === 1 && records[0] !== undefined) return { domain, record: records[0] };
  }
  return undefined;
}

/** SPF, DKIM and DMARC of a message that arrived with `envelope`, every lookup answered by `nsd`. */
export function authenticate(nsd: TestNsd, message: string, envelope: Envelope): Authentication {
  const spf = checkSpf(nsd, envelope);
  const m = checkMessage(nsd, message);
  return {
    from: m.from,
    spf,
    dkim: m.dkim,
    dmarc: dmarcVerdict(m.from, dmarcRecord(nsd, m.from), spf, m.dkim),
  };
}

/** The message with its From header replaced: the same signature, another author. Pure. */
export function withFrom(message: string, from: string): string {
  const forged = message.replace(/^From:.*(?:\r?\n[ \t].*)*/im, `From: ${from}`);
  if (forged === message) throw new Error("the message has no From header to replace");
  return forged;
}
