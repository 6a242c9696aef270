// nginx on the mail host: the ACME HTTP-01 webroot certbot writes to, a
// redirect of everything else on port 80 to HTTPS, and on 443 the MTA-STS
// policy and the mail clients' autoconfig (Thunderbird) and autodiscover
// (Outlook) files of every mail domain. One push, checked with `nginx -t`.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ACME_WEBROOT } from "../../core/host-layout";
import { ConfigPush, type HostConnection, type PushFile } from "../../core/push";
import { installPackages, parseVersions, runScript } from "../../core/remote";
import { fill, ROOT, render } from "../../core/template";
import { type MtaStsSettings, mtaStsPolicy } from "../dns/records";

export const NGINX_PACKAGES = ["nginx"] as const;
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

export interface WebServerArgs extends WebConfArgs {
  readonly connection: HostConnection;
  /** Resources to wait for (the firewall, the bootstrap certificate). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** The web host names of each domain, in the order the certificate lists them. Pure. */
export function webHostNames(domain: string): string[] {
  return [`mta-sts.${domain}`, `autoconfig.${domain}`, `autodiscover.${domain}`];
}

/** Every name the mail host's certificate must cover: its own, then each domain's web hosts. Pure. */
export function certificateNames(hostname: string, domains: readonly string[]): string[] {
  return [...new Set([hostname, ...domains.flatMap(webHostNames)])];
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

/** A file under files/nginx/ filled in, with no header added (XML must start with its declaration). */
function xml(source: string, values: Record<string, string>): string {
  const text = fs.readFileSync(path.join(ROOT, "files", "nginx", source), "utf8");
  return fill(text, values, `files/nginx/${source}`);
}

/** Every file of the push: nginx's config and what it serves. Pure. */
export function webFiles(args: WebConfArgs): PushFile[] {
  return [
    { path: NGINX_CONF, content: renderNginxConf(args) },
    {
      path: NGINX_TLS_CONF,
      content: render("nginx/tls.conf", { certPath: args.certPath, keyPath: args.keyPath }),
    },
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

export class WebServer extends pulumi.ComponentResource {
  /** Installed nginx version. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** nginx serving its config: certbot's webroot answers from here on. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: WebServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:web:WebServer", name, {}, opts);
    const conn = args.connection;
    const files = webFiles(args);
    const packages = installPackages(`${name}-packages`, conn, NGINX_PACKAGES, {
      parent: this,
      dependsOn: [...(args.dependsOn ?? [])],
    });
    const prepare = runScript(`${name}-prepare`, conn, "nginx/prepare.sh", [ACME_WEBROOT, WWW_ROOT], {
      parent: this,
      dependsOn: [packages],
    });
    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files,
        check: ["nginx -t -q"],
        reload: { service: "nginx", action: "reload" },
      },
      { parent: this, dependsOn: [prepare] },
    );
    this.versions = packages.stdout.apply(parseVersions);
    this.ready = config;
    this.registerOutputs({ versions: this.versions });
  }
}
