// DNS against the deployed stack: its dnsZones output (a BIND fragment per
// mail domain) is loaded, with a SOA and NS added as a DNS host would, into a
// real authoritative server, a throwaway NSD on loopback (test/helpers/nsd.ts). Every
// record must be served as the fragment writes it, and the records a mail
// client or a receiving server relies on must say the right things. Then a
// message the mail host signed is checked as a receiver would, every lookup
// answered by that NSD (test/helpers/receiver.ts): SPF (pyspf), DKIM (dkimpy) and
// DMARC alignment, with the cases that must not pass. test/sandbox/e2e.test.ts calls
// registerDnsTests.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { startNsd, type TestNsd } from "../helpers/nsd";
import {
  authenticate,
  type Envelope,
  type ServedRecordSet,
  servedRecordSets,
  withFrom,
} from "../helpers/receiver";
import type { SandboxSsh } from "../helpers/sandbox-ssh";
import { type PublishedDkim, submitAndFetch } from "./dkim-contract";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");
/** The mail host of the sandbox stack: every MX and SRV target. */
const MAIL_HOST = "mail.example.test";

export interface DnsHooks {
  /** The stack's dnsZones output now: domain -> BIND zone fragment. */
  readonly zones: () => Promise<Record<string, string>>;
  /** The stack's dkimRecords output now: the exact values the DKIM TXT records must reassemble to. */
  readonly dkimRecords: () => Promise<PublishedDkim[]>;
  /**
   * A message as its recipient's server got it from the mail host. Default:
   * alice@example.test submits one on 587 and bob's stored copy is read over SSH.
   */
  readonly message?: () => Promise<string>;
}

export function registerDnsTests(ssh: SandboxSsh, host: string, hooks: DnsHooks): void {
  let zones: Record<string, string> = {};
  let nsd: TestNsd | undefined;
  let served = new Map<string, ServedRecordSet>();
  let signed: Promise<string> | undefined;
  const servers: TestNsd[] = [];
  /** How the mail host hands mail to a receiver: from its address, as alice, saying its name. */
  const envelope: Envelope = { ip: host, mailFrom: "alice@example.test", helo: MAIL_HOST };

  const server = (): TestNsd => {
    if (!nsd) throw new Error("NSD is not serving the zones; see why in the first dns test");
    return nsd;
  };
  /** The served record set of `type name`; empty (NXDOMAIN) when the zones do not have it. */
  const rrset = (type: string, name: string): ServedRecordSet => {
    server();
    return (
      served.get(`${type} ${name}`) ?? {
        zone: "",
        name,
        type,
        rcode: "NXDOMAIN",
        served: [],
        strings: [],
        expected: [],
      }
    );
  };
  const txt = (name: string): string[] => rrset("TXT", name).strings.map((s) => s.join(""));
  /** The message under test, fetched once. */
  const message = (): Promise<string> => {
    signed ??= hooks.message ? hooks.message() : Promise.resolve(submitAndFetch(ssh, host, `dns-${RUN}`));
    return signed;
  };

  describe("dns: the zone output, served by NSD", () => {
    afterAll(() => {
      for (const s of servers) s.stop();
    });

    // Started here, not in a hook: a fragment NSD refuses fails this test
    // with nsd-checkzone's message, and the tests after it say why they fail.
    it("NSD loads every zone fragment and serves every record exactly as the fragment writes it", async () => {
      zones = await hooks.zones();
      expect(Object.keys(zones)).toContain("example.test");
      nsd = await startNsd(zones);
      servers.push(nsd);
      served = new Map(servedRecordSets(nsd, zones).map((r) => [`${r.type} ${r.name}`, r]));
      // Beyond SOA and NS, each zone has its mail records.
      for (const zone of Object.keys(zones)) {
        expect([...served.values()].filter((r) => r.zone === zone).length, zone).toBeGreaterThan(2);
      }
      const wrong = [...served.values()]
        .filter((r) => r.rcode !== "NOERROR" || r.served.join("\n") !== r.expected.join("\n"))
        .map(
          (r) =>
            `${r.type} ${r.name}: ${r.rcode} ${JSON.stringify(r.served)}, zone says ${JSON.stringify(r.expected)}`,
        );
      expect(wrong).toEqual([]);
    });

    it("each domain's MX is the mail host, whose A record is its address; SPF and DMARC are published", () => {
      expect(rrset("A", MAIL_HOST).served).toEqual([host]);
      for (const d of Object.keys(zones)) {
        expect(rrset("MX", d).served, d).toEqual([expect.stringMatching(/^\d+ mail\.example\.test\.$/)]);
        const spf = txt(d).filter((t) => t.startsWith("v=spf1 "));
        expect(spf, d).toEqual([expect.stringMatching(/^v=spf1 mx( .*)? [-~]all$/)]);
        expect(txt(`_dmarc.${d}`), d).toEqual([
          expect.stringMatching(/^v=DMARC1; p=(none|quarantine|reject);.* adkim=[rs]; aspf=[rs]$/),
        ]);
      }
    });

    it("every DKIM key reassembles from strings of at most 255 bytes into the published value", async () => {
      const published = await hooks.dkimRecords();
      expect(published.length).toBeGreaterThan(0);
      // Exactly the published selectors, no stray or missing key.
      const servedKeys = [...served.values()]
        .filter((r) => r.type === "TXT" && r.name.includes("._domainkey."))
        .map((r) => r.name);
      expect(servedKeys.sort()).toEqual(published.map((r) => r.name).sort());
      for (const r of published) {
        const set = rrset("TXT", r.name);
        expect(set.strings, r.name).toHaveLength(1);
        const strings = set.strings[0] ?? [];
        // nsd-checkzone already refuses a longer string; this says which record would.
        for (const s of strings) expect(Buffer.byteLength(s), r.name).toBeLessThanOrEqual(255);
        // An RSA key is longer than one string may be: it must come back in pieces.
        if (Buffer.byteLength(r.value) > 255) expect(strings.length, r.name).toBeGreaterThan(1);
        expect(strings.join(""), r.name).toBe(r.value);
      }
    });

    it("mail clients find the services (RFC 6186 SRV); MTA-STS, TLS-RPT and CAA are published", () => {
      for (const d of Object.keys(zones)) {
        for (const [service, port] of [
          ["_submission", 587],
          ["_submissions", 465],
          ["_imaps", 993],
          ["_pop3s", 995],
        ] as const) {
          expect(rrset("SRV", `${service}._tcp.${d}`).served, `${service} ${d}`).toEqual([
            expect.stringMatching(new RegExp(`^\\d+ \\d+ ${port} mail\\.example\\.test\\.$`)),
          ]);
        }
        expect(txt(`_mta-sts.${d}`), d).toEqual([expect.stringMatching(/^v=STSv1; id=[0-9A-Za-z]{1,32}$/)]);
        expect(txt(`_smtp._tls.${d}`), d).toEqual([
          expect.stringMatching(/^v=TLSRPTv1; rua=mailto:\S+@\S+$/),
        ]);
      }
      expect(rrset("CAA", MAIL_HOST).served).toEqual([expect.stringMatching(/^0 issue "[a-z0-9.-]+"$/)]);
    });

    it(
      "a message the mail host signed passes SPF, DKIM and DMARC against the served zones",
      async () => {
        const a = authenticate(server(), await message(), envelope);
        expect(a.from).toBe("example.test");
        expect(a.spf).toMatchObject({ result: "pass", domain: "example.test" });
        expect(a.dkim).toContainEqual(expect.objectContaining({ result: "pass", d: "example.test" }));
        expect(a.dmarc).toMatchObject({ result: "pass", recordDomain: "example.test" });
        expect(a.dmarc.record).toBe(txt("_dmarc.example.test")[0]);
      },
      STEP,
    );

    it(
      "another domain in From, or a tampered body from a host SPF does not list, does not pass DMARC",
      async () => {
        const signedMessage = await message();
        // SPF still passes, but for example.test: not aligned with example.org,
        // and the signature no longer matches the From it covers.
        const forged = authenticate(server(), withFrom(signedMessage, "Alice <alice@example.org>"), envelope);
        expect(forged.from).toBe("example.org");
        expect(forged.spf.result).toBe("pass");
        expect(forged.dkim.every((s) => s.result === "fail")).toBe(true);
        expect(forged.dmarc).toMatchObject({ result: "fail", recordDomain: "example.org" });

        // 192.0.2.25 (TEST-NET-1) is only compared against the SPF record, never contacted.
        const tampered = authenticate(server(), `${signedMessage}Appended on the way.\n`, {
          ...envelope,
          ip: "192.0.2.25",
        });
        expect(tampered.spf.result).toBe("fail");
        expect(tampered.dkim).toContainEqual(expect.objectContaining({ result: "fail", d: "example.test" }));
        expect(tampered.dmarc.result).toBe("fail");
      },
      STEP,
    );

    it(
      "without example.test's SPF record SPF is none: the verdicts come from the served zone",
      async () => {
        const fragment = zones["example.test"] ?? "";
        const withoutSpf = fragment
          .split("\n")
          .filter((l) => !/^example\.test\.\s.*\sTXT\s+"v=spf1 /.test(l))
          .join("\n");
        expect(withoutSpf).not.toBe(fragment);
        const other = await startNsd({ ...zones, "example.test": withoutSpf });
        servers.push(other);
        const a = authenticate(other, await message(), envelope);
        expect(a.spf.result).toBe("none");
        // The rest of the zone is still served: DKIM alone carries DMARC.
        expect(a.dkim).toContainEqual(expect.objectContaining({ result: "pass", d: "example.test" }));
        expect(a.dmarc.result).toBe("pass");
      },
      STEP,
    );
  });
}
