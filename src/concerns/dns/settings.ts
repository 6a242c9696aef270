// The mail domains' DNS records and where they go: a zone file to publish by
// hand, or Cloudflare; the addresses, SPF, DMARC, MTA-STS and CAA.
import * as pulumi from "@pulumi/pulumi";
import { type KeySpecs, parseJsonObject, parseSettings, type Reader } from "../../core/settings";
import { domainProblem, IPV4, ipv4Problem, ipv6Problem } from "../../core/validators";
import type { DomainConfig } from "../database/settings";
import {
  DEFAULT_DMARC,
  DEFAULT_MTA_STS,
  DEFAULT_SPF,
  type DmarcSettings,
  dmarcProblems,
  type MtaStsSettings,
  mtaStsProblems,
  type SpfSettings,
  spfProblems,
} from "./records";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  dnsProvider: {
    type: "string",
    default: "zonefile",
    description:
      "Where the mail records go: zonefile (default; the stack output dnsZones holds a BIND fragment per domain) or cloudflare (also published there; set cloudflareApiToken and cloudflareZoneIds).",
    example: "cloudflare",
  },
  cloudflareApiToken: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Cloudflare API token with DNS edit rights on the mail domains' zones. Secret. For dnsProvider cloudflare.",
    example: "--secret mailstack:cloudflareApiToken",
  },
  cloudflareZoneIds: {
    type: "object",
    default: {},
    description:
      'Cloudflare zone id of each mail domain, such as {"tlabs.team": "023e105f4ecef8ad9ca31a8372d0c353"}. For dnsProvider cloudflare.',
    example: "--path 'cloudflareZoneIds[\"tlabs.team\"]' 023e105f4ecef8ad9ca31a8372d0c353",
  },
  mailIpv4: {
    type: "string",
    default: "",
    description:
      "Public IPv4 address of the mail host, for its A record and the expected PTR. Default: host, when that is an IPv4 address.",
    example: "203.0.113.25",
  },
  mailIpv6: {
    type: "string",
    default: "",
    description: "Public IPv6 address of the mail host, for its AAAA record. Default none.",
    example: "2001:db8::25",
  },
  spf: {
    type: "object",
    default: {},
    description:
      'SPF of every domain, each optional: {"includes": [], "all": "-all"} (the defaults): the MX may send, plus each include; at most 10 DNS lookups in all.',
    example: "--path 'spf.includes[0]' _spf.google.com",
  },
  dmarc: {
    type: "object",
    default: {},
    description:
      'DMARC of every domain, each optional: {"policy": "quarantine", "subdomainPolicy": unset, "rua": ["mailto:<adminEmail>"], "ruf": [], "pct": 100, "adkim": "r", "aspf": "r"} (the defaults); report addresses are mailto: URIs.',
    example: "--path 'dmarc.policy' reject",
  },
  mtaSts: {
    type: "object",
    default: {},
    description:
      'MTA-STS policy, each optional: {"mode": "testing", "maxAge": 604800} (the defaults); mode enforce, testing or none.',
    example: "--path 'mtaSts.mode' enforce",
  },
  caaIssuer: {
    type: "string",
    default: "letsencrypt.org",
    description:
      "The CA that may issue the mail host's certificate (its CAA record). Default letsencrypt.org.",
    example: "letsencrypt.org",
  },
} as const satisfies KeySpecs;

/** The mail domains' DNS records and where they go. */
export interface DnsConfig {
  readonly provider: "zonefile" | "cloudflare";
  /** Set exactly with provider cloudflare. */
  readonly cloudflare?: {
    readonly apiToken: pulumi.Output<string>;
    readonly zoneIds: Readonly<Record<string, string>>;
  };
  readonly ipv4?: string;
  readonly ipv6?: string;
  readonly spf: SpfSettings;
  readonly dmarc: DmarcSettings;
  readonly mtaSts: MtaStsSettings;
  readonly caaIssuer: string;
}

/** What the DNS settings are read against. */
export interface DnsContext {
  readonly domains: readonly DomainConfig[];
  /** mailstack:host: the default of mailIpv4 when it is an IPv4 address. */
  readonly host: string;
  /** mailstack:adminEmail: DMARC's default report address. */
  readonly adminEmail: string;
}

/**
 * The DNS settings, and the Cloudflare token as given ("" when unset), which
 * the TLS settings also use for DNS-01; problems go to the reader.
 */
export function parse(
  r: Reader<keyof typeof KEYS>,
  ctx: DnsContext,
): { readonly dns: DnsConfig; readonly cloudflareApiToken: string } {
  const provider = r.str("dnsProvider", "zonefile", (v) =>
    v === "zonefile" || v === "cloudflare" ? undefined : "is not zonefile or cloudflare",
  );
  const cfToken = r.str("cloudflareApiToken", "");
  const cfZones = parseZoneIds(r.get("cloudflareZoneIds"), (why) => r.bad("cloudflareZoneIds", why));
  if (provider === "cloudflare") {
    if (cfToken === "") r.bad("cloudflareApiToken", "is required with dnsProvider cloudflare but not set");
    for (const d of ctx.domains.filter((x) => x.active)) {
      if (cfZones[d.name] === undefined) {
        r.bad(
          "cloudflareZoneIds",
          `has no zone id for ${d.name}`,
          `pulumi config set --path 'cloudflareZoneIds["${d.name}"]' <zone id>`,
        );
      }
    }
  }
  const ipv4 = r.str("mailIpv4", IPV4.test(ctx.host) ? ctx.host : "", ipv4Problem);
  const ipv6 = r.str("mailIpv6", "", ipv6Problem);
  const spf = parseSettings(r.get("spf"), DEFAULT_SPF, spfProblems, (why) => r.bad("spf", why));
  const dmarc = parseSettings(
    r.get("dmarc"),
    { ...DEFAULT_DMARC, rua: ctx.adminEmail !== "" ? [`mailto:${ctx.adminEmail}`] : [] },
    dmarcProblems,
    (why) => r.bad("dmarc", why),
    ["subdomainPolicy"],
  );
  const mtaSts = parseSettings(r.get("mtaSts"), DEFAULT_MTA_STS, mtaStsProblems, (why) =>
    r.bad("mtaSts", why),
  );
  const caaIssuer = r.str("caaIssuer", "letsencrypt.org", domainProblem);
  return {
    dns: {
      provider: provider as DnsConfig["provider"],
      ...(provider === "cloudflare"
        ? { cloudflare: { apiToken: pulumi.secret(cfToken), zoneIds: cfZones } }
        : {}),
      ...(ipv4 !== "" ? { ipv4 } : {}),
      ...(ipv6 !== "" ? { ipv6 } : {}),
      spf,
      dmarc,
      mtaSts,
      caaIssuer,
    },
    cloudflareApiToken: cfToken,
  };
}

/** A JSON object of domain -> Cloudflare zone id (mailstack:cloudflareZoneIds). */
function parseZoneIds(value: string | undefined, bad: (why: string) => void): Record<string, string> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (
    parsed === undefined ||
    Object.values(parsed).some((v) => typeof v !== "string" || !/^[0-9a-f]{32}$/.test(v))
  ) {
    bad("is not an object of domain -> 32-hex-digit zone id");
    return {};
  }
  return parsed as Record<string, string>;
}
