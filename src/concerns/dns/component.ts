// The mail domains' DNS, from the one record list of src/concerns/dns/records.ts:
// Cloudflare records (mailstack:dnsProvider cloudflare), and always a BIND zone
// fragment per domain as a stack output, for DNS hosted elsewhere and for the
// sandbox. A PTR record cannot be set at the DNS host, so the audit outputs
// carry a deliverability checklist instead.
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { keptOnDestroy } from "../../core/lifetime";
import { type DnsRecord, type DnsRecordsArgs, dnsRecords, txtStrings, zoneFragment } from "./records";

export const DEFAULT_DNS_TTL = 3600;

export interface DnsArgs extends Omit<DnsRecordsArgs, "dkim" | "tlsaSpki"> {
  /** Every published DKIM record; the values are Outputs (derived from secret keys, not secret). */
  readonly dkim: readonly { readonly name: string; readonly value: pulumi.Input<string> }[];
  /** The certificate key's SHA-256 (hex), known once the host has it: publishes TLSA. Default none. */
  readonly tlsaSpki?: pulumi.Input<string>;
  /** TTL of every record, seconds. Default DEFAULT_DNS_TTL. */
  readonly ttl?: number;
  /** Publish at Cloudflare: the API token (secret) and each domain's zone id. Default none: zone fragments only. */
  readonly cloudflare?: {
    readonly apiToken: pulumi.Input<string>;
    readonly zoneIds: Readonly<Record<string, string>>;
  };
}

/** The arguments of one Cloudflare DnsRecord: never proxied (mail is not HTTP). Pure. */
export function cloudflareRecordArgs(
  r: Omit<DnsRecord, "value"> & { readonly value: pulumi.Input<string> },
  zoneId: string,
  ttl: number,
): cloudflare.DnsRecordArgs {
  const base = { zoneId, name: r.name, type: r.type, ttl, proxied: false, comment: `mailstack: ${r.why}` };
  switch (r.type) {
    case "SRV":
      return {
        ...base,
        data: {
          priority: r.priority ?? 0,
          weight: r.srv?.weight ?? 1,
          port: r.srv?.port ?? 0,
          target: r.value,
        },
      };
    case "TLSA": {
      const parts = pulumi.output(r.value).apply((v) => v.split(" "));
      return {
        ...base,
        data: {
          usage: parts.apply((p) => Number(p[0])),
          selector: parts.apply((p) => Number(p[1])),
          matchingType: parts.apply((p) => Number(p[2])),
          certificate: parts.apply((p) => p[3] ?? ""),
        },
      };
    }
    case "CAA": {
      const m = /^(\d+) (\w+) "(.*)"$/.exec(String(r.value));
      return { ...base, data: { flags: Number(m?.[1] ?? 0), tag: m?.[2] ?? "issue", value: m?.[3] ?? "" } };
    }
    case "MX":
      return { ...base, content: r.value, priority: r.priority ?? 10 };
    case "TXT":
      return { ...base, content: pulumi.output(r.value).apply(txtStrings) };
    default:
      return { ...base, content: r.value };
  }
}

/** Each DMARC record's name and value, e.g. {"_dmarc.tlabs.team": "v=DMARC1; p=quarantine; ..."}. Pure. */
export function dmarcRecords(records: readonly DnsRecord[]): Record<string, string> {
  return Object.fromEntries(
    records.filter((r) => r.type === "TXT" && r.name.startsWith("_dmarc.")).map((r) => [r.name, r.value]),
  );
}

/** A Pulumi name for a record that stays the same however config is ordered. Pure. */
export function recordResourceName(prefix: string, r: Pick<DnsRecord, "type" | "name">): string {
  return `${prefix}-${r.type.toLowerCase()}-${r.name}`;
}

export class MailDns extends pulumi.ComponentResource {
  /** Each domain's BIND zone fragment. */
  readonly zones: pulumi.Output<Record<string, string>>;
  /** Every record, its value resolved: what DNS should serve. */
  readonly records: pulumi.Output<DnsRecord[]>;
  /** What DNS records cannot do: the PTR to ask the hosting provider for, and port 25. */
  readonly deliverability: {
    readonly expectedPtr: Readonly<Record<string, string>>;
    readonly outboundPort25: string;
  };

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    // Everything but the DKIM values is plain data; validated here, at preview.
    // The DKIM values and the TLSA key hash come from the host or from keys,
    // as Outputs: validated here with stand-ins, then swapped in.
    const { tlsaSpki, ...records } = args;
    const plain = dnsRecords({
      ...records,
      dkim: args.dkim.map((d) => ({ name: d.name, value: "v=DKIM1; p=" })),
      ...(tlsaSpki !== undefined ? { tlsaSpki: "0".repeat(64) } : {}),
    });
    // The DMARC records are the component's inputs: whatever the provider
    // (a zone fragment has no resource of its own), the policy pack reads
    // the published policy here (policy/rules.ts, dmarc-enforced-in-prod).
    super("mailstack:dns:MailDns", name, { dmarc: dmarcRecords(plain) }, opts);
    const ttl = args.ttl ?? DEFAULT_DNS_TTL;
    const dkimNames = new Set(args.dkim.map((d) => d.name));
    const all: (Omit<DnsRecord, "value"> & { readonly value: pulumi.Input<string> })[] = plain.map((r) => {
      if (r.type === "TLSA") return { ...r, value: pulumi.interpolate`3 1 1 ${tlsaSpki ?? ""}` };
      if (r.type === "TXT" && dkimNames.has(r.name)) {
        return { ...r, value: args.dkim.find((d) => d.name === r.name)?.value ?? "" };
      }
      return r;
    });

    if (args.cloudflare) {
      const cf = args.cloudflare;
      const missing = args.domains.filter((d) => cf.zoneIds[d] === undefined);
      if (missing.length > 0) {
        throw new pulumi.ResourceError(
          `dns: no Cloudflare zone id for ${missing.join(", ")}; set mailstack:cloudflareZoneIds["${missing[0]}"]`,
          this,
        );
      }
      const provider = new cloudflare.Provider(
        `${name}-cloudflare`,
        { apiToken: cf.apiToken },
        { parent: this },
      );
      for (const r of all) {
        new cloudflare.DnsRecord(
          recordResourceName(name, r),
          cloudflareRecordArgs(r, cf.zoneIds[r.zone] ?? "", ttl),
          // Kept on destroy: deleting the MX would stop inbound mail (src/core/lifetime.ts).
          { parent: this, ...keptOnDestroy(provider) },
        );
      }
    }

    this.records = pulumi
      .all(all.map((r) => pulumi.output(r.value)))
      .apply((values) => all.map((r, i): DnsRecord => ({ ...r, value: values[i] ?? "" })));
    this.zones = this.records.apply((resolved) =>
      Object.fromEntries(args.domains.map((d) => [d, zoneFragment(d, resolved, ttl)])),
    );
    this.deliverability = {
      expectedPtr: Object.fromEntries(
        [args.ipv4, args.ipv6]
          .filter((ip): ip is string => ip !== undefined)
          .map((ip) => [ip, args.hostname]),
      ),
      outboundPort25:
        "needed: the host delivers to other servers on port 25; many clouds block it until asked",
    };
    this.registerOutputs({ zones: this.zones, deliverability: this.deliverability });
  }
}
