// The report's "DNS records" section: every domain's records from the
// dnsZones output, and which of them the state holds as Cloudflare records.
import { short, table } from "./markdown";
import { type Outputs, str } from "./outputs";
import { byType, parseZoneFragment, type StackState, type ZoneRecord } from "./state";

/** The section as data: what the JSON report holds under its key. Pure. */
export function dnsOf(state: StackState, out: Outputs) {
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

/** The section's Markdown, below its heading. Pure. */
export function dnsMarkdown(dns: Omit<ReturnType<typeof dnsOf>, "cloudflareRecords">): string[] {
  const cf = dns.provider === "cloudflare";
  return [
    `Provider: ${dns.provider}. From ${dns.source}.`,
    ...dns.zones.flatMap((z) => [
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
    ]),
  ];
}
