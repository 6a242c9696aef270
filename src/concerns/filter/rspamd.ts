// Rspamd: the spam filter, as Postfix's milter for mail from port 25 and for
// submissions alike, with Redis (on this host, loopback only) for Bayes,
// greylisting and the other stateful modules, and ClamAV (src/concerns/filter/clamav.ts)
// through its antivirus module. Its files are local.d (and, where a list must
// lose an entry, override.d) overrides of the distribution's config, pushed in
// one ConfigPush and checked with `rspamadm configtest`.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DKIM_KEY_DIR, RSPAMD_CONTROLLER, RSPAMD_MILTER } from "../../core/host-layout";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions } from "../../core/remote";
import type { DkimKey } from "../dkim/component";
import { dkimKeyPath, type RspamdConfArgs, rspamdFiles, rspamdReloadCommand } from "./render";

export const RSPAMD_PACKAGES = ["rspamd", "redis-server"] as const;

export interface RspamdArgs extends Omit<RspamdConfArgs, "dkimSigning"> {
  readonly connection: HostConnection;
  /** Every published DKIM key (src/concerns/dkim/component.ts); the signing ones sign. Default none. */
  readonly dkimKeys?: readonly DkimKey[];
  /** Resources the packages and config wait for (host base, ClamAV). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class Rspamd extends pulumi.ComponentResource {
  /** Installed versions of rspamd and redis-server. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** Rspamd configured and running, its milter listening: Postfix depends on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: RspamdArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:rspamd:Rspamd", name, {}, opts);
    const keys = args.dkimKeys ?? [];
    const files = rspamdFiles({
      ...args,
      dkimSigning: keys.filter((k) => k.signing).map((k) => ({ domain: k.domain, selector: k.selector })),
    });
    const after = { parent: this, dependsOn: [...(args.dependsOn ?? [])] };
    const packages = installPackages(`${name}-packages`, args.connection, RSPAMD_PACKAGES, after);

    // The private keys, in a push of their own so its diff shows as [secret].
    // A selector removed from config takes its key file with it.
    const keep = keys.map((k) => `! -name ${shellQuote(path.basename(dkimKeyPath(k.domain, k.selector)))}`);
    const dkim =
      keys.length > 0
        ? new ConfigPush(
            `${name}-dkim-keys`,
            {
              connection: args.connection,
              files: keys.map((k) => ({
                path: dkimKeyPath(k.domain, k.selector),
                content: k.privateKeyPem.apply((pem) => (pem.endsWith("\n") ? pem : `${pem}\n`)),
                group: "_rspamd",
                mode: "0640",
                secret: true,
              })),
              check: keys.map((k) => `openssl pkey -noout -in ${dkimKeyPath(k.domain, k.selector)}`),
              reload: {
                command: `find ${DKIM_KEY_DIR} -maxdepth 1 -type f -name '*.key' ${keep.join(" ")} -delete && svc reload rspamd`,
              },
            },
            { parent: this, dependsOn: [packages] },
          )
        : undefined;

    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: args.connection,
        files,
        check: ["rspamadm configtest -q"],
        reload: { command: rspamdReloadCommand() },
        // The milter must listen and the controller answer before Postfix sends mail its way.
        verify: [
          `up() { listening ${RSPAMD_MILTER.port} && rspamc -h ${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port} stat >/dev/null 2>&1; }; wait_until 30 "Rspamd's milter on port ${RSPAMD_MILTER.port} and its controller" up`,
        ],
      },
      { parent: this, dependsOn: [packages, ...(dkim ? [dkim] : [])] },
    );

    this.versions = packages.stdout.apply(parseVersions);
    this.ready = config;
    this.registerOutputs({ versions: this.versions });
  }
}
