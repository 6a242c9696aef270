// DNS records as data: every record of a domain, the zone fragment as a
// snapshot, validation with the config key in the message, and the Cloudflare
// resources under mocks (content, TXT quoting and splitting, names that stay
// put when config is reordered). test/sandbox/dns-contract.ts serves the zone output
// from a real DNS server and verifies a signed message against it.
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_DMARC,
  DEFAULT_MTA_STS,
  DEFAULT_SPF,
  type DnsRecordsArgs,
  dnsProblems,
  dnsRecords,
  mtaStsId,
  mtaStsPolicy,
  spfLookups,
  txtStrings,
  zoneFragment,
} from "../../../src/concerns/dns/records";
import { flush, resources, setup } from "../../helpers/mocks";

const LONG_KEY = `v=DKIM1; k=rsa; p=${"A".repeat(392)}`;
const ARGS: DnsRecordsArgs = {
  hostname: "mail.example.test",
  ipv4: "203.0.113.25",
  ipv6: "2001:db8::25",
  domains: ["example.test", "example.org"],
  spf: DEFAULT_SPF,
  dmarc: { ...DEFAULT_DMARC, rua: ["mailto:postmaster@example.test"] },
  mtaSts: DEFAULT_MTA_STS,
  tlsRptRua: ["mailto:postmaster@example.test"],
  caaIssuer: "letsencrypt.org",
  dkim: [{ name: "s2026a._domainkey.example.test", value: LONG_KEY }],
};
const byKey = (args: DnsRecordsArgs) => new Map(dnsRecords(args).map((r) => [`${r.type} ${r.name}`, r]));

describe("dns records", () => {
  it("zone fragment of example.test", () =>
    expect(zoneFragment("example.test", dnsRecords(ARGS), 3600)).toMatchSnapshot());

  it("has every record the mail host needs, for each domain", () => {
    const r = byKey(ARGS);
    expect(r.get("A mail.example.test")?.value).toBe("203.0.113.25");
    expect(r.get("AAAA mail.example.test")?.value).toBe("2001:db8::25");
    expect(r.get("CAA mail.example.test")?.value).toBe('0 issue "letsencrypt.org"');
    for (const d of ARGS.domains) {
      expect(r.get(`MX ${d}`)).toMatchObject({ value: "mail.example.test", priority: 10 });
      expect(r.get(`TXT ${d}`)?.value).toBe("v=spf1 mx -all");
      expect(r.get(`TXT _dmarc.${d}`)?.value).toBe(
        "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test; adkim=r; aspf=r",
      );
      expect(r.get(`TXT _smtp._tls.${d}`)?.value).toBe("v=TLSRPTv1; rua=mailto:postmaster@example.test");
      expect(r.get(`CNAME mta-sts.${d}`)?.value).toBe("mail.example.test");
      expect(r.get(`CNAME autoconfig.${d}`)?.value).toBe("mail.example.test");
      expect(r.get(`CNAME autodiscover.${d}`)?.value).toBe("mail.example.test");
      for (const [svc, port] of [
        ["_submission", 587],
        ["_submissions", 465],
        ["_imaps", 993],
        ["_pop3s", 995],
      ] as const) {
        expect(r.get(`SRV ${svc}._tcp.${d}`)).toMatchObject({ value: "mail.example.test", srv: { port } });
      }
    }
    // The host's own records live in its zone only.
    expect(
      [...r.values()].filter((x) => x.name === "mail.example.test").every((x) => x.zone === "example.test"),
    ).toBe(true);
  });

  it("MTA-STS: the TXT id changes exactly when the policy does", () => {
    const id = (mode: "enforce" | "testing") =>
      byKey({ ...ARGS, mtaSts: { ...DEFAULT_MTA_STS, mode } }).get("TXT _mta-sts.example.test")?.value;
    expect(id("testing")).toBe(`v=STSv1; id=${mtaStsId(mtaStsPolicy("mail.example.test", DEFAULT_MTA_STS))}`);
    expect(id("enforce")).not.toBe(id("testing"));
    expect(id("testing")).toBe(id("testing"));
    expect(mtaStsPolicy("mail.example.test", DEFAULT_MTA_STS)).toBe(
      "version: STSv1\nmode: testing\nmx: mail.example.test\nmax_age: 604800\n",
    );
  });

  it("TXT values are quoted, escaped and split into strings of at most 255 characters", () => {
    const strings = txtStrings(LONG_KEY);
    const parts = [...strings.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? "");
    expect(parts.length).toBe(2);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(255);
    expect(parts.join("")).toBe(LONG_KEY);
    expect(txtStrings('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(zoneFragment("example.test", dnsRecords(ARGS), 300)).toContain(
      `s2026a._domainkey.example.test. 300 IN TXT ${strings}`,
    );
  });

  it("refuses a DMARC rua without mailto:, more than 10 SPF lookups and an invalid selector, naming the key", () => {
    expect(dnsProblems({ ...ARGS, dmarc: { ...ARGS.dmarc, rua: ["postmaster@example.test"] } })).toEqual([
      'dmarc: rua "postmaster@example.test" must be mailto:address (mailstack:dmarc)',
    ]);
    const includes = Array.from({ length: 10 }, (_, i) => `spf${i}.example.net`);
    expect(spfLookups("v=spf1 mx include:a.test include:b.test -all")).toBe(3);
    expect(dnsProblems({ ...ARGS, spf: { includes, all: "-all" } })).toEqual([
      "spf: needs 11 DNS lookups, more than the 10 receivers allow (RFC 7208); drop includes (mailstack:spf)",
    ]);
    expect(
      dnsProblems({ ...ARGS, dkim: [{ name: "-bad_._domainkey.example.test", value: "v=DKIM1" }] }),
    ).toEqual(['DKIM record "-bad_._domainkey.example.test" has an invalid selector (mailstack:dkim)']);
    expect(() => dnsRecords({ ...ARGS, dmarc: { ...ARGS.dmarc, pct: 120 } })).toThrow("mailstack:dmarc");
  });
});

describe("Cloudflare records under mocks", () => {
  setup();
  const ZONES = { "example.test": "0".repeat(32), "example.org": "1".repeat(32) };
  const snapshot = new Map<string, Record<string, unknown>>();
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { MailDns } = await import("../../../src/concerns/dns/component");
    const make = (name: string, domains: string[]) =>
      new MailDns(name, {
        ...ARGS,
        domains,
        dkim: [{ name: "s2026a._domainkey.example.test", value: pulumi.output(LONG_KEY) }],
        cloudflare: { apiToken: pulumi.secret("CF-TOKEN"), zoneIds: ZONES },
      });
    make("a", ["example.test", "example.org"]);
    make("b", ["example.org", "example.test"]);
    await flush();
    for (const [n, r] of resources)
      if (r.type === "cloudflare:index/dnsRecord:DnsRecord") snapshot.set(n, r.inputs);
  });

  it("one record per type and name, never proxied, in the domain's zone", () => {
    const mx = snapshot.get("a-mx-example.org");
    expect(mx).toMatchObject({
      zoneId: "1".repeat(32),
      name: "example.org",
      type: "MX",
      content: "mail.example.test",
      priority: 10,
      proxied: false,
    });
    expect(snapshot.get("a-srv-_imaps._tcp.example.test")).toMatchObject({
      type: "SRV",
      data: { priority: 0, weight: 1, port: 993, target: "mail.example.test" },
    });
    expect(snapshot.get("a-caa-mail.example.test")).toMatchObject({
      data: { flags: 0, tag: "issue", value: "letsencrypt.org" },
    });
    for (const [n, r] of snapshot) expect(r.proxied, n).toBe(false);
  });

  it("TXT content is quoted and split, DKIM included", () => {
    expect(snapshot.get("a-txt-example.test")?.content).toBe('"v=spf1 mx -all"');
    expect(snapshot.get("a-txt-s2026a._domainkey.example.test")?.content).toBe(txtStrings(LONG_KEY));
  });

  it("reordering the domains changes no name and no record", () => {
    const a = [...snapshot].filter(([n]) => n.startsWith("a-")).map(([n, r]) => [n.slice(2), r] as const);
    const b = new Map(
      [...snapshot].filter(([n]) => n.startsWith("b-")).map(([n, r]) => [n.slice(2), r] as const),
    );
    expect(a.length).toBeGreaterThan(20);
    for (const [n, r] of a) expect(b.get(n), n).toEqual(r);
  });

  it("the API token reaches only the provider, as a secret", () => {
    // A secret reaches the engine wrapped, marked with Pulumi's secret signature.
    const token = resources.get("a-cloudflare")?.inputs.apiToken as Record<string, string>;
    expect(Object.keys(token)).toContain("4dabf18193072939515e22adb298388d");
    for (const r of snapshot.values()) expect(JSON.stringify(r)).not.toContain("CF-TOKEN");
  });
});
