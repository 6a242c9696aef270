// ClamAV: clamd on a local socket, for Rspamd's antivirus module. With
// mailstack:clamavUpdates (the default) freshclam keeps the signatures current
// and the first deployment waits for its first download; without it (the
// sandbox, which has no network) clamd loads only the project's own test
// database, which knows EICAR and nothing else.
import * as pulumi from "@pulumi/pulumi";
import { CLAMD_SOCKET } from "../../core/host-layout";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, runScript } from "../../core/remote";
import { type ClamavConfArgs, clamavFiles, EICAR_HEX } from "./render";

/** clamd; the package pulls in clamav-freshclam, which signatures.sh turns on or off. */
export const CLAMAV_PACKAGES = ["clamav-daemon", "clamav-freshclam"] as const;

/** The EICAR test file's text. Pure. */
export function eicar(): string {
  return Buffer.from(EICAR_HEX, "hex").toString("latin1");
}

export interface ClamavArgs extends ClamavConfArgs {
  readonly connection: HostConnection;
  /** freshclam keeps the signatures current (mailstack:clamavUpdates). Default true. */
  readonly updates?: boolean;
  /** Resources the packages wait for (host base). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class Clamav extends pulumi.ComponentResource {
  /** Installed versions of the ClamAV packages. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** clamd configured, its signatures loaded and its socket up: Rspamd depends on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: ClamavArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:clamav:Clamav", name, {}, opts);
    const conn = args.connection;
    const updates = args.updates ?? true;
    const after = { parent: this, dependsOn: [...(args.dependsOn ?? [])] };
    const packages = installPackages(`${name}-packages`, conn, CLAMAV_PACKAGES, after);
    // freshclam on (its first download before clamd starts) or off.
    const signatures = runScript(
      `${name}-signatures`,
      conn,
      "clamav/signatures.sh",
      [updates ? "freshclam" : "test"],
      { parent: this, dependsOn: [packages] },
    );

    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files: clamavFiles(args, updates),
        // clamd has no check mode; clamconf parses clamd.conf, and clamd
        // itself refuses to start on a bad database, which rolls back.
        check: ["clamconf -n >/dev/null"],
        reload: { service: "clamav-daemon", action: "restart" },
        verify: [`wait_socket 60 ${CLAMD_SOCKET}`],
      },
      { parent: this, dependsOn: [packages, signatures] },
    );

    this.versions = packages.stdout.apply(parseVersions);
    this.ready = config;
    this.registerOutputs({ versions: this.versions });
  }
}
