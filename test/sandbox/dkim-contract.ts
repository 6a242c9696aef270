// DKIM against the deployed sandbox: mail a user submits leaves signed, and
// the signature verifies with dkimpy (python3-dkim) against the public keys of
// the stack's dkimRecords output, served by a real DNS server (a throwaway
// NSD on loopback, test/helpers/nsd.ts). Then a rotation: `sign` moves to the next
// selector, new mail carries it, and both selectors stay published.
// test/sandbox/e2e.test.ts calls registerDkimTests after the mail tests.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { type DnsRecord, zoneFragment } from "../../src/concerns/dns/records";
import { shellQuote } from "../../src/core/push";
import { tool } from "../helpers/mail-clients";
import { startNsd, type TestNsd } from "../helpers/nsd";
import { checkMessage } from "../helpers/receiver";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");

/** One published selector, as the stack's dkimRecords output lists it. */
export interface PublishedDkim {
  readonly name: string;
  readonly value: string;
  readonly signing: boolean;
}

export interface DkimHooks {
  /** The stack's dkimRecords output now. */
  readonly records: () => Promise<PublishedDkim[]>;
  /** Moves example.test's `sign` to `selector` and runs an up. */
  readonly signWith: (selector: string) => Promise<void>;
}

/** The zones (name -> fragment) that publish exactly `records`, each in the zone after `_domainkey`. */
export function dkimZones(records: readonly PublishedDkim[]): Record<string, string> {
  const txt: DnsRecord[] = records.map((r) => ({
    zone: r.name.replace(/^[^.]+\._domainkey\./, ""),
    name: r.name,
    type: "TXT",
    value: r.value,
    why: "DKIM public key",
  }));
  return Object.fromEntries([...new Set(txt.map((r) => r.zone))].map((z) => [z, zoneFragment(z, txt, 3600)]));
}

/** Sends a message as alice on 587 and returns bob's stored copy, which the mail host signed on the way out. */
export function submitAndFetch(ssh: SandboxSsh, host: string, subject: string): string {
  const t = tool("swaks", [
    ...["--server", host, "--timeout", "30", "--port", "587", "--tls"],
    ...["--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-sandbox-pw"],
    ...["--from", "alice@example.test", "--to", "bob@example.test", "--header", `Subject: ${subject}`],
    ...["--body", "Signed on the way out.\n"],
  ]);
  expect(t.code, t.out).toBe(0);
  const r = ssh(
    `for i in $(seq 50); do f=$(grep -rlF ${shellQuote(subject)} /var/vmail/example.test/bob/Maildir 2>/dev/null | grep -E '/(new|cur)/' | head -1); [ -n "$f" ] && { cat "$f"; exit 0; }; sleep 0.2; done; exit 1`,
  );
  expect(r.code, `bob never got "${subject}"`).toBe(0);
  return r.out;
}

export function registerDkimTests(ssh: SandboxSsh, host: string, hooks: DkimHooks): void {
  let dns: TestNsd | undefined;
  afterAll(() => dns?.stop());

  /** Serves `records` from a throwaway NSD, replacing any earlier server. */
  const serve = async (records: readonly PublishedDkim[]): Promise<TestNsd> => {
    dns?.stop();
    dns = await startNsd(dkimZones(records));
    return dns;
  };

  /** "pass|fail d=<domain> s=<selector>" of the first signature, as dkimpy asking `server` sees it. */
  const verified = (message: string, server: TestNsd): string => {
    const sig = checkMessage(server, message).dkim[0];
    return sig ? `${sig.result} d=${sig.d} s=${sig.s}` : "unsigned";
  };

  describe("dkim: signing and rotation", () => {
    it(
      "a submitted message is signed with the signing selector and verifies against the published key",
      async () => {
        const records = await hooks.records();
        const example = records.filter((r) => r.name.endsWith("._domainkey.example.test"));
        expect(example.map((r) => `${r.name} ${r.signing}`).sort()).toEqual([
          "s2026a._domainkey.example.test true",
          "s2026b._domainkey.example.test false",
        ]);
        const server = await serve(records);
        const message = submitAndFetch(ssh, host, `dkim-${RUN}-1`);
        expect(message).toMatch(/^DKIM-Signature: /m);
        expect(verified(message, server)).toBe("pass d=example.test s=s2026a");
        // The check can fail: without the published key there is nothing to verify against.
        const other = await serve(records.filter((r) => !r.name.startsWith("s2026a.")));
        expect(verified(message, other)).toBe("fail d=example.test s=s2026a");
      },
      STEP,
    );

    it(
      "after switching sign to the next selector, new mail carries it and both keys stay published",
      async () => {
        await hooks.signWith("s2026b");
        const records = await hooks.records();
        const example = records.filter((r) => r.name.endsWith("._domainkey.example.test"));
        expect(example.map((r) => `${r.name} ${r.signing}`).sort()).toEqual([
          "s2026a._domainkey.example.test false",
          "s2026b._domainkey.example.test true",
        ]);
        const server = await serve(records);
        expect(verified(submitAndFetch(ssh, host, `dkim-${RUN}-2`), server)).toBe(
          "pass d=example.test s=s2026b",
        );
      },
      STEP,
    );
  });
}
