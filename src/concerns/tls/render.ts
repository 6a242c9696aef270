// TLS's files, rendered from typed values: nginx's config and what it serves
// (the MTA-STS policy, the mail clients' setup files), and certbot's
// Cloudflare credentials. Pure: no config, no Pulumi.
import * as fs from "node:fs";
import * as path from "node:path";
import { ACME_WEBROOT } from "../../core/host-layout";
import type { PushFile } from "../../core/push";
import { fill, ROOT, render } from "../../core/template";
import { CLIENT_TLS_CIPHER_STRING, CLIENT_TLS_PROTOCOLS } from "../../core/tls-policy";
import { type MtaStsSettings, mtaStsPolicy } from "../dns/records";

// nginx (src/concerns/tls/web.ts pushes these).

/** The files served over HTTPS. */
export const WWW_ROOT = "/var/lib/mailstack/www";
export const NGINX_CONF = "/etc/nginx/conf.d/mailstack.conf";
export const NGINX_TLS_CONF = "/etc/nginx/mailstack-tls.conf";

export interface WebConfArgs {
  /** The mail host's name. */
  readonly hostname: string;
  /** The active mail domains. */
  readonly domains: readonly string[];
  readonly mtaSts: MtaStsSettings;
  /** Listen on IPv6 too: set when the host has an AAAA record (mailstack:mailIpv6). */
  readonly ipv6: boolean;
  readonly certPath: string;
  readonly keyPath: string;
}

/** /etc/nginx/conf.d/mailstack.conf. Pure. */
export function renderNginxConf(args: WebConfArgs): string {
  if (args.domains.length === 0) throw new Error("web: no active mail domain to serve (mailstack:domains)");
  const v6 = (listen: string) => (args.ipv6 ? `    listen ${listen};\n` : "");
  const clientHosts = args.domains.flatMap((d) => [`autoconfig.${d}`, `autodiscover.${d}`]);
  return render("nginx/mailstack.conf", {
    listen80v6: v6("[::]:80 default_server"),
    listen443v6: v6("[::]:443 ssl"),
    listen443v6default: v6("[::]:443 ssl default_server"),
    acmeWebroot: ACME_WEBROOT,
    wwwRoot: WWW_ROOT,
    tlsInclude: NGINX_TLS_CONF,
    hostname: args.hostname,
    mtaStsNames: args.domains.map((d) => `mta-sts.${d}`).join(" "),
    clientNames: clientHosts.join(" "),
    domainMap: clientHosts.map((h) => `    ${h} ${h.slice(h.indexOf(".") + 1)};\n`).join(""),
  });
}

/** /etc/nginx/mailstack-tls.conf: the certificate and the TLS profile every HTTPS server includes. Pure. */
export function renderNginxTlsConf(args: Pick<WebConfArgs, "certPath" | "keyPath">): string {
  return render("nginx/tls.conf", {
    certPath: args.certPath,
    keyPath: args.keyPath,
    protocols: CLIENT_TLS_PROTOCOLS.join(" "),
    ciphers: CLIENT_TLS_CIPHER_STRING,
  });
}

/** A file under files/nginx/ filled in, with no header added (XML must start with its declaration). */
function xml(source: string, values: Record<string, string>): string {
  const text = fs.readFileSync(path.join(ROOT, "files", "nginx", source), "utf8");
  return fill(text, values, `files/nginx/${source}`);
}

/** Every file of the push: nginx's config and what it serves. Pure. */
export function webFiles(args: WebConfArgs): PushFile[] {
  return [
    { path: NGINX_CONF, content: renderNginxConf(args) },
    { path: NGINX_TLS_CONF, content: renderNginxTlsConf(args) },
    { path: `${WWW_ROOT}/mta-sts.txt`, content: mtaStsPolicy(args.hostname, args.mtaSts) },
    ...args.domains.flatMap((domain) => [
      {
        path: `${WWW_ROOT}/clients/${domain}/mail/config-v1.1.xml`,
        content: xml("autoconfig.xml", { domain, hostname: args.hostname }),
      },
      {
        path: `${WWW_ROOT}/clients/${domain}/autodiscover/autodiscover.xml`,
        content: xml("autodiscover.xml", { domain, hostname: args.hostname }),
      },
    ]),
  ];
}

// certbot (src/concerns/tls/acme.ts pushes this).

/** certbot's Cloudflare credentials file. Pure. */
export function renderCloudflareIni(token: string): string {
  if (!/^[A-Za-z0-9_-]{20,}$/.test(token)) {
    throw new Error(
      "acme: mailstack:cloudflareApiToken does not look like a Cloudflare API token (letters, digits, - and _)",
    );
  }
  return `# Managed by mailstack (Pulumi). certbot's DNS-01 challenges through Cloudflare.\ndns_cloudflare_api_token = ${token}\n`;
}
