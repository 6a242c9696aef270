// TLS against the deployed sandbox: certbot got the mail host's certificate
// from the sandbox's Pebble, every TLS port serves it and it verifies against
// Pebble's root; nginx serves the MTA-STS policy and the mail clients' setup
// files over HTTPS; renewals are scheduled; and a forced renewal puts the new
// certificate on every port through certbot's deploy hook, while a broken one
// is refused and changes nothing. test/sandbox/e2e.test.ts calls registerTlsTests.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mtaStsId } from "../../src/concerns/dns/records";
import { tool } from "../helpers/mail-clients";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

const STEP = 5 * 60_000;
export const HOSTNAME = "mail.example.test";

/** Every TLS port, with the STARTTLS protocol where the port speaks plain first. */
export const TLS_PORTS: readonly { readonly port: number; readonly starttls?: string }[] = [
  { port: 25, starttls: "smtp" },
  { port: 587, starttls: "smtp" },
  { port: 465 },
  { port: 993 },
  { port: 995 },
  { port: 443 },
];

/**
 * Writes the current root of the sandbox's Pebble to `file`: Pebble makes a
 * new root when it starts, and its management API serves it.
 */
export function fetchPebbleRoot(acme: Pick<TlsHooks, "acmeCa" | "acmeRootUrl">, file: string): void {
  const r = tool("curl", ["-sS", "--max-time", "10", "--cacert", acme.acmeCa, "-o", file, acme.acmeRootUrl]);
  if (r.code !== 0 || !fs.readFileSync(file, "utf8").includes("BEGIN CERTIFICATE")) {
    throw new Error(
      `cannot fetch Pebble's root from ${acme.acmeRootUrl}: ${r.out}. Is the sandbox up? bash scripts/sandbox.sh status`,
    );
  }
}

export interface TlsHooks {
  /** The sandbox's test ACME server: its HTTPS CA and the URL of its current root. */
  readonly acmeCa: string;
  readonly acmeRootUrl: string;
  /** The active mail domains. */
  readonly domains: readonly string[];
  /** The stack's dnsZones output now. */
  readonly zones: () => Promise<Record<string, string>>;
}

/** What a server presents on one port, checked against the CA file. */
interface Served {
  readonly verified: boolean;
  readonly serial: string;
  readonly issuer: string;
  readonly spki: string;
  readonly transcript: string;
}

export function registerTlsTests(ssh: SandboxSsh, host: string, hooks: TlsHooks): void {
  let dir = "";
  let root = "";

  /** The certificate on PORT, verified against Pebble's root for the mail host's name. */
  const served = (p: (typeof TLS_PORTS)[number]): Served => {
    const r = tool("openssl", [
      "s_client",
      ...["-connect", `${host}:${p.port}`, "-servername", HOSTNAME, "-verify_hostname", HOSTNAME],
      ...["-CAfile", root, "-showcerts", "-verify_return_error"],
      ...(p.starttls ? ["-starttls", p.starttls] : []),
    ]);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.out)?.[0] ?? "";
    if (pem === "") return { verified: false, serial: "", issuer: "", spki: "", transcript: r.out };
    const cert = new crypto.X509Certificate(pem);
    return {
      verified: /Verify return code: 0 \(ok\)/.test(r.out),
      serial: cert.serialNumber,
      issuer: cert.issuer,
      spki: crypto
        .createHash("sha256")
        .update(cert.publicKey.export({ type: "spki", format: "der" }))
        .digest("hex"),
      transcript: r.out,
    };
  };
  /** The serial of the certificate the daemons read on the host. */
  const installedSerial = () =>
    ssh("openssl x509 -in /etc/mailstack/tls/fullchain.pem -noout -serial")
      .out.trim()
      .replace(/^serial=/, "");
  /** An HTTPS request to NAME on the mail host, trusting only Pebble's root. */
  const https = (name: string, urlPath: string, extra: readonly string[] = []) =>
    tool("curl", [
      ...["-sS", "--max-time", "20", "--cacert", root, "--resolve", `${name}:443:${host}`],
      ...["-w", "\n%{http_code}", ...extra, `https://${name}${urlPath}`],
    ]);
  const body = (r: { out: string }) => r.out.slice(0, r.out.lastIndexOf("\n"));
  const status = (r: { out: string }) => r.out.slice(r.out.lastIndexOf("\n") + 1);

  describe("TLS: certbot, nginx and renewals", () => {
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-tls-"));
      root = path.join(dir, "pebble-root.pem");
      fetchPebbleRoot(hooks, root);
    });
    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it(
      "every TLS port serves the certificate certbot got from Pebble, verified for the mail host",
      () => {
        const serial = installedSerial();
        expect(serial).toMatch(/^[0-9A-F]+$/);
        for (const p of TLS_PORTS) {
          const s = served(p);
          expect(s.verified, `port ${p.port}: ${s.transcript.slice(-600)}`).toBe(true);
          expect(s.serial, `port ${p.port}`).toBe(serial);
          expect(s.issuer, `port ${p.port}`).toMatch(/Pebble Intermediate CA/);
        }
      },
      STEP,
    );

    it(
      "the TLSA record in the zone names the key every port serves",
      async () => {
        const zone = (await hooks.zones())["example.test"] ?? "";
        const tlsa = new RegExp(
          `^_25\\._tcp\\.${HOSTNAME.replace(/\./g, "\\.")}\\. \\d+ IN TLSA 3 1 1 ([0-9a-f]{64})`,
          "m",
        ).exec(zone);
        expect(tlsa?.[1], zone).toBeDefined();
        for (const p of TLS_PORTS) expect(served(p).spki, `port ${p.port}`).toBe(tlsa?.[1]);
      },
      STEP,
    );

    it(
      "nginx serves each domain's MTA-STS policy over HTTPS, matching the id in its zone",
      async () => {
        const zones = await hooks.zones();
        for (const d of hooks.domains) {
          const r = https(`mta-sts.${d}`, "/.well-known/mta-sts.txt");
          expect(status(r), `${d}: ${r.out}`).toBe("200");
          const policy = `${body(r)}\n`.replace(/\n\n$/, "\n");
          expect(policy).toMatch(
            new RegExp(`^version: STSv1\nmode: testing\nmx: ${HOSTNAME}\nmax_age: \\d+\n$`),
          );
          expect(zones[d]).toContain(`_mta-sts.${d}. `);
          expect(zones[d]).toContain(`"v=STSv1; id=${mtaStsId(policy)}"`);
        }
        // Only on the MTA-STS names, and never over plain HTTP.
        expect(status(https(HOSTNAME, "/.well-known/mta-sts.txt"))).toBe("404");
        const plain = tool("curl", [
          ...["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"],
          ...[
            "--resolve",
            `mta-sts.example.test:80:${host}`,
            "http://mta-sts.example.test/.well-known/mta-sts.txt",
          ],
        ]);
        expect(plain.out).toBe("301 https://mta-sts.example.test/.well-known/mta-sts.txt");
      },
      STEP,
    );

    it(
      "nginx serves Thunderbird's autoconfig and answers Outlook's autodiscover POST for every domain",
      () => {
        for (const d of hooks.domains) {
          const auto = https(`autoconfig.${d}`, `/mail/config-v1.1.xml?emailaddress=someone%40${d}`);
          expect(status(auto), auto.out).toBe("200");
          const xml = body(auto);
          expect(xml).toContain(`<emailProvider id="${d}">`);
          for (const [type, port, socket] of [
            ["imap", 993, "SSL"],
            ["pop3", 995, "SSL"],
            ["smtp", 465, "SSL"],
            ["smtp", 587, "STARTTLS"],
          ] as const) {
            expect(xml).toMatch(
              new RegExp(
                `Server type="${type}">\\s*<hostname>${HOSTNAME}</hostname>\\s*<port>${port}</port>\\s*<socketType>${socket}</socketType>`,
              ),
            );
          }
          const disco = https(`autodiscover.${d}`, "/Autodiscover/Autodiscover.xml", [
            ...["-X", "POST", "-H", "Content-Type: text/xml"],
            ...[
              "--data",
              `<Autodiscover><Request><EMailAddress>someone@${d}</EMailAddress></Request></Autodiscover>`,
            ],
          ]);
          expect(status(disco), disco.out).toBe("200");
          expect(body(disco)).toMatch(
            new RegExp(`<Type>IMAP</Type>\\s*<Server>${HOSTNAME}</Server>\\s*<Port>993</Port>`),
          );
        }
      },
      STEP,
    );

    it(
      "renewals are scheduled",
      () => {
        const r = ssh(
          "if [ -d /run/systemd/system ]; then systemctl is-active certbot.timer; else grep -c 'certbot -q renew' /etc/cron.d/certbot && pgrep -x cron >/dev/null && echo cron-running; fi",
        );
        expect(r.out).toMatch(/^(active|1\ncron-running)\n$/);
      },
      STEP,
    );

    it(
      "a forced renewal puts the new certificate on every TLS port, with the same key",
      () => {
        const before = installedSerial();
        const keyBefore = served(TLS_PORTS[0] ?? { port: 25 }).spki;
        // What the scheduled job runs, without its random start delay.
        const r = ssh("certbot renew --force-renewal --no-random-sleep-on-renew --cert-name mailstack 2>&1");
        expect(r.code, r.out).toBe(0);
        const after = installedSerial();
        expect(after).not.toBe(before);
        for (const p of TLS_PORTS) {
          const s = served(p);
          expect(s.verified, `port ${p.port}`).toBe(true);
          expect(s.serial, `port ${p.port}`).toBe(after);
          // mailstack:tlsa keeps the key, so the published TLSA record stays right.
          expect(s.spki, `port ${p.port}`).toBe(keyBefore);
        }
      },
      STEP,
    );

    it(
      "the deploy hook refuses a certificate that does not match its key, and nothing changes",
      () => {
        const before = installedSerial();
        const r = ssh(
          [
            "d=$(mktemp -d); trap 'rm -rf $d' EXIT",
            "cp /etc/letsencrypt/live/mailstack/fullchain.pem $d/",
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $d/privkey.pem 2>/dev/null",
            "RENEWED_LINEAGE=$d /usr/local/sbin/mailstack-tls-deploy",
          ].join("\n"),
        );
        expect(r.code).not.toBe(0);
        expect(r.err).toContain("does not match the key; nothing changed");
        expect(installedSerial()).toBe(before);
        expect(served({ port: 443 }).serial).toBe(before);
      },
      STEP,
    );
  });
}
