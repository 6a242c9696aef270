// The mail host's certificate from an ACME CA (Let's Encrypt, its staging
// server, or a private one such as the sandbox's Pebble) with certbot: HTTP-01
// through nginx's webroot, or DNS-01 through Cloudflare. certbot's deploy hook
// installs each new certificate where Postfix, Dovecot and nginx read it and
// reloads them, on the first issue and on every scheduled renewal.
import * as pulumi from "@pulumi/pulumi";
import { ACME_WEBROOT } from "../../core/host-layout";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, raw, runScript } from "../../core/remote";
import { renderCloudflareIni } from "./render";
import type { AcmeChallenge } from "./settings";

export const DEPLOY_HOOK = "/usr/local/sbin/mailstack-tls-deploy";
const CLOUDFLARE_INI = "/etc/letsencrypt/mailstack-cloudflare.ini";

/** Where certificates come from (mailstack:acmeServer and friends). */
export interface AcmeSettings {
  /** The ACME directory URL. */
  readonly server: string;
  readonly challenge: AcmeChallenge;
  /** Account and expiry notices go here. */
  readonly email: string;
  /** PEM of a private ACME server's HTTPS CA, trusted on the host. Default none. */
  readonly caBundle?: string;
  /** Renewals keep the key, so a TLSA record stays valid. */
  readonly reuseKey: boolean;
}

export interface AcmeCertificateArgs {
  readonly connection: HostConnection;
  readonly settings: AcmeSettings;
  /** Every name the certificate covers, the mail host's first. */
  readonly names: readonly string[];
  /** For DNS-01: a Cloudflare API token with DNS edit rights (secret). */
  readonly cloudflareApiToken?: pulumi.Input<string>;
  /** nginx serving the webroot, and the daemons the deploy hook reloads. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** The packages certbot needs for a challenge; cron schedules renewals where systemd does not. Pure. */
export function acmePackages(challenge: AcmeChallenge): string[] {
  return ["certbot", "cron", ...(challenge === "dns-01" ? ["python3-certbot-dns-cloudflare"] : [])];
}

/** The arguments of files/certbot/issue.sh. Pure. */
export function issueArgs(s: AcmeSettings, names: readonly string[]): string[] {
  if (names.length === 0) throw new Error("acme: the certificate needs at least one name");
  return [s.server, s.email, s.challenge, s.reuseKey ? "yes" : "no", ACME_WEBROOT, ...names];
}

/** The SHA-256 of the certificate's public key, from a summary's "spki-sha256" line. Pure. */
export function spkiSha256(summary: string): string {
  const m = /^spki-sha256 ([0-9a-f]{64})$/m.exec(summary);
  if (!m?.[1]) throw new Error(`tls: no public key hash in the certificate summary: ${summary}`);
  return m[1];
}

export class AcmeCertificate extends pulumi.ComponentResource {
  /** Names, issuer, expiry and key hash of the certificate when it last ran. */
  readonly summary: pulumi.Output<string>;
  /** What schedules the renewals. */
  readonly renewal: pulumi.Output<string>;
  /** Installed versions of certbot and its plugins. */
  readonly versions: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: AcmeCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:tls:AcmeCertificate", name, {}, opts);
    const conn = args.connection;
    const s = args.settings;
    const issue = issueArgs(s, args.names);
    const after = { parent: this, dependsOn: [...(args.dependsOn ?? [])] };

    const packages = installPackages(`${name}-packages`, conn, acmePackages(s.challenge), after);
    const ca = runScript(`${name}-ca`, conn, "certbot/ca-bundle.sh", s.caBundle ? [s.caBundle] : [], {
      parent: this,
      dependsOn: [packages],
    });
    const hook = new ConfigPush(
      `${name}-hook`,
      {
        connection: conn,
        files: [{ path: DEPLOY_HOOK, content: raw("certbot/deploy-hook.sh"), mode: "0755" }],
        check: [`bash -n ${DEPLOY_HOOK}`],
      },
      { parent: this, dependsOn: [packages] },
    );
    const ready: pulumi.Resource[] = [ca, hook];
    if (s.challenge === "dns-01") {
      if (args.cloudflareApiToken === undefined) {
        throw new pulumi.ResourceError(
          "acme: DNS-01 needs mailstack:cloudflareApiToken (pulumi config set --secret mailstack:cloudflareApiToken)",
          this,
        );
      }
      ready.push(
        new ConfigPush(
          `${name}-cloudflare`,
          {
            connection: conn,
            files: [
              {
                path: CLOUDFLARE_INI,
                content: pulumi.output(args.cloudflareApiToken).apply(renderCloudflareIni),
                secret: true,
              },
            ],
          },
          { parent: this, dependsOn: [packages] },
        ),
      );
    }
    const cert = runScript(`${name}-issue`, conn, "certbot/issue.sh", issue, {
      parent: this,
      dependsOn: ready,
    });
    const schedule = runScript(`${name}-renewal`, conn, "certbot/schedule.sh", [], {
      parent: this,
      dependsOn: [cert],
    });
    this.summary = cert.stdout;
    this.renewal = schedule.stdout;
    this.versions = packages.stdout.apply(parseVersions);
    this.registerOutputs({ summary: this.summary, renewal: this.renewal, versions: this.versions });
  }
}
