// The report's "Deliverability checklist" section: what the published records
// cover per domain, and the PTR and outbound port 25 that are always checked
// by hand.
import type { DkimAudit } from "./dkim";
import { short } from "./markdown";
import type { Outputs } from "./outputs";
import type { ZoneRecord } from "./state";

export interface Check {
  /** A domain, or the mail host's name. */
  readonly scope: string;
  readonly item: string;
  readonly ok: boolean;
  /** Done outside the stack (PTR, port 25): never ticked from the state. */
  readonly manual: boolean;
  readonly detail: string;
}

/** The section as data: what the JSON report holds under its key. Pure. */
export function checksOf(
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

/** The section's Markdown, below its heading. Pure. */
export function deliverabilityMarkdown(checks: readonly Check[]): string[] {
  return [
    "Ticked: the stack publishes it. PTR and port 25 are set at the hosting provider and always need a check by hand.",
    "",
    ...checks.map(
      (c) =>
        `- [${c.ok ? "x" : " "}] ${c.scope}: ${c.item}${c.manual ? " (by hand)" : ""}: ${short(c.detail)}`,
    ),
  ];
}
