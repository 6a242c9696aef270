// nginx on the mail host: the ACME HTTP-01 webroot certbot writes to, a
// redirect of everything else on port 80 to HTTPS, and on 443 the MTA-STS
// policy and the mail clients' autoconfig (Thunderbird) and autodiscover
// (Outlook) files of every mail domain. One push, checked with `nginx -t`.
import * as pulumi from "@pulumi/pulumi";
import { ACME_WEBROOT } from "../../core/host-layout";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, runScript } from "../../core/remote";
import { type WebConfArgs, WWW_ROOT, webFiles } from "./render";

export const NGINX_PACKAGES = ["nginx"] as const;

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
