// nginx's rendered files and certbot's arguments, pure; the ACME component
// through Pulumi's mocks (secrecy of the Cloudflare token). The sandbox run
// (test/sandbox/tls-contract.ts) proves them against Pebble, nginx and the daemons.
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MTA_STS, mtaStsPolicy } from "../../../src/concerns/dns/records";
import {
  type AcmeCertificateArgs,
  acmePackages,
  issueArgs,
  spkiSha256,
} from "../../../src/concerns/tls/acme";
import {
  renderCloudflareIni,
  renderNginxConf,
  renderNginxTlsConf,
  webFiles,
} from "../../../src/concerns/tls/render";
import { LETSENCRYPT } from "../../../src/concerns/tls/settings";
import { certificateNames } from "../../../src/concerns/tls/web";
import { ACME_WEBROOT } from "../../../src/core/host-layout";
import { CLIENT_TLS_CIPHER_STRING } from "../../../src/core/tls-policy";
import { flush, resources, setup } from "../../helpers/mocks";

const WEB = {
  hostname: "mail.tlabs.team",
  domains: ["tlabs.team", "example.org"],
  mtaSts: DEFAULT_MTA_STS,
  ipv6: false,
  certPath: "/etc/mailstack/tls/fullchain.pem",
  keyPath: "/etc/mailstack/tls/privkey.pem",
};
const TOKEN = "cf-TOKEN-0123456789abcdefXYZ";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

describe("nginx", () => {
  it("mailstack.conf", () => expect(renderNginxConf(WEB)).toMatchSnapshot());

  it("mailstack-tls.conf", () => expect(renderNginxTlsConf(WEB)).toMatchSnapshot());

  it("443 has the client ports' TLS profile: TLS 1.2 and 1.3, AEAD suites only, in every HTTPS server", () => {
    const tls = renderNginxTlsConf(WEB);
    expect(tls).toMatch(/^ssl_protocols TLSv1\.2 TLSv1\.3;$/m);
    expect(tls).toContain(`\nssl_ciphers ${CLIENT_TLS_CIPHER_STRING};\n`);
    expect(tls).toMatch(/^ssl_prefer_server_ciphers off;$/m);
    // Each server on 443 includes it, and none sets its own protocols or suites.
    const conf = renderNginxConf(WEB);
    expect(conf.match(/listen 443 ssl/g)).toHaveLength(3);
    expect(conf.match(/include \/etc\/nginx\/mailstack-tls\.conf;/g)).toHaveLength(3);
    expect(conf).not.toMatch(/ssl_(protocols|ciphers)/);
    expect(webFiles(WEB).find((f) => f.path === "/etc/nginx/mailstack-tls.conf")?.content).toBe(tls);
  });

  it("the certificate covers the mail host and each domain's MTA-STS, autoconfig and autodiscover hosts", () => {
    expect(certificateNames(WEB.hostname, WEB.domains)).toEqual([
      "mail.tlabs.team",
      ...["mta-sts.tlabs.team", "autoconfig.tlabs.team", "autodiscover.tlabs.team"],
      ...["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"],
    ]);
    // A domain whose web host is the mail host's own name is listed once.
    expect(certificateNames("mta-sts.tlabs.team", ["tlabs.team"])).toHaveLength(3);
  });

  it("serves ACME challenges on port 80 from certbot's webroot and sends the rest to HTTPS", () => {
    const conf = renderNginxConf(WEB);
    const http = conf.slice(conf.indexOf("server {"), conf.indexOf("map $host"));
    expect(http).toContain("listen 80 default_server;");
    expect(http).toContain(`location ^~ /.well-known/acme-challenge/ {\n        root ${ACME_WEBROOT};`);
    expect(http).toContain("return 301 https://$host$request_uri;");
  });

  it("maps each client host name to its domain, and listens on IPv6 only when the host has an address there", () => {
    const conf = renderNginxConf(WEB);
    expect(conf).toContain(
      "    autoconfig.example.org example.org;\n    autodiscover.example.org example.org;\n",
    );
    expect(conf).toContain("server_name mta-sts.tlabs.team mta-sts.example.org;");
    expect(conf).not.toContain("[::]");
    const v6 = renderNginxConf({ ...WEB, ipv6: true });
    expect(v6).toContain("listen [::]:80 default_server;");
    expect(v6.match(/listen \[::\]:443 ssl/g)).toHaveLength(3);
  });

  it("pushes the policy and each domain's client files, and refuses an empty domain list", () => {
    const files = webFiles(WEB);
    expect(files.map((f) => f.path)).toEqual([
      "/etc/nginx/conf.d/mailstack.conf",
      "/etc/nginx/mailstack-tls.conf",
      "/var/lib/mailstack/www/mta-sts.txt",
      "/var/lib/mailstack/www/clients/tlabs.team/mail/config-v1.1.xml",
      "/var/lib/mailstack/www/clients/tlabs.team/autodiscover/autodiscover.xml",
      "/var/lib/mailstack/www/clients/example.org/mail/config-v1.1.xml",
      "/var/lib/mailstack/www/clients/example.org/autodiscover/autodiscover.xml",
    ]);
    expect(files[2]?.content).toBe(mtaStsPolicy(WEB.hostname, WEB.mtaSts));
    const xml = String(files[5]?.content);
    // The XML declaration comes first, as parsers require.
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
    expect(xml).toContain('<emailProvider id="example.org">');
    expect(xml).toContain("<hostname>mail.tlabs.team</hostname>");
    expect(() => renderNginxConf({ ...WEB, domains: [] })).toThrow(/no active mail domain/);
  });
});

describe("certbot", () => {
  it("issues for every name from the chosen server, keeping the key only when TLSA needs it", () => {
    const s = {
      server: LETSENCRYPT,
      challenge: "http-01",
      email: "postmaster@tlabs.team",
      reuseKey: false,
    } as const;
    expect(issueArgs(s, ["mail.tlabs.team", "mta-sts.tlabs.team"])).toEqual([
      LETSENCRYPT,
      "postmaster@tlabs.team",
      "http-01",
      "no",
      ACME_WEBROOT,
      "mail.tlabs.team",
      "mta-sts.tlabs.team",
    ]);
    expect(issueArgs({ ...s, reuseKey: true }, ["a.test"])[3]).toBe("yes");
    expect(() => issueArgs(s, [])).toThrow(/at least one name/);
  });

  it("installs the Cloudflare plugin only for DNS-01, and cron to schedule renewals", () => {
    expect(acmePackages("http-01")).toEqual(["certbot", "cron"]);
    expect(acmePackages("dns-01")).toEqual(["certbot", "cron", "python3-certbot-dns-cloudflare"]);
  });

  it("reads the key hash from a certificate summary, and says when there is none", () => {
    expect(spkiSha256(`DNS:a.test\nspki-sha256 ${"0f".repeat(32)}\n`)).toBe("0f".repeat(32));
    expect(() => spkiSha256("subject=CN = a.test\n")).toThrow(/no public key hash/);
  });

  it("writes the Cloudflare credentials file, and never echoes a malformed token", () => {
    expect(renderCloudflareIni(TOKEN)).toContain(`dns_cloudflare_api_token = ${TOKEN}\n`);
    let message = "";
    try {
      renderCloudflareIni("not a token");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/mailstack:cloudflareApiToken does not look like/);
    expect(message).not.toContain("not a token");
  });
});

describe("AcmeCertificate", () => {
  setup();
  let make: (name: string, args: Omit<AcmeCertificateArgs, "connection">) => unknown;

  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { AcmeCertificate } = await import("../../../src/concerns/tls/acme");
    const connection = { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") };
    make = (name, args) => new AcmeCertificate(name, { connection, ...args });
    make("dns01", {
      names: ["mail.tlabs.team"],
      settings: { server: LETSENCRYPT, challenge: "dns-01", email: "postmaster@tlabs.team", reuseKey: false },
      cloudflareApiToken: pulumi.secret(TOKEN),
    });
    await flush();
  });

  it("pushes the Cloudflare token only inside a secret push, never in a command line", () => {
    const ini = resources.get("dns01-cloudflare-apply");
    expect(JSON.stringify(ini?.inputs.stdin)).toContain(SECRET_SIG);
    expect(JSON.stringify(ini?.inputs.stdin)).toContain(`dns_cloudflare_api_token = ${TOKEN}`);
    for (const r of resources.values()) {
      if (r.type !== "command:remote:Command" || !r.name.startsWith("dns01")) continue;
      expect(JSON.stringify(r.inputs.create ?? ""), r.name).not.toContain(TOKEN);
      if (r !== ini) expect(JSON.stringify(r.inputs.stdin ?? ""), r.name).not.toContain(TOKEN);
    }
    expect(String(resources.get("dns01-issue")?.inputs.create)).toContain("'dns-01'");
  });

  it("refuses DNS-01 without a token, naming the key", () => {
    expect(() =>
      make("no-token", {
        names: ["mail.tlabs.team"],
        settings: {
          server: LETSENCRYPT,
          challenge: "dns-01",
          email: "postmaster@tlabs.team",
          reuseKey: false,
        },
      }),
    ).toThrow(/mailstack:cloudflareApiToken/);
  });
});
