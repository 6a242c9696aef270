// ClamAV: clamd on a local socket, for Rspamd's antivirus module. With
// mailstack:clamavUpdates (the default) freshclam keeps the signatures current
// and the first deployment waits for its first download; without it (the
// sandbox, which has no network) clamd loads only the project's own test
// database, which knows EICAR and nothing else.
import * as pulumi from "@pulumi/pulumi";
import { CLAMD_SOCKET, DEFAULT_MESSAGE_SIZE_LIMIT } from "../../core/host-layout";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, runScript } from "../../core/remote";
import { render } from "../../core/template";

/** clamd; the package pulls in clamav-freshclam, which signatures.sh turns on or off. */
export const CLAMAV_PACKAGES = ["clamav-daemon", "clamav-freshclam"] as const;

/** The test database that replaces the real signatures without updates. */
export const TEST_DATABASE_PATH = "/var/lib/clamav/mailstack-test.ndb";

/**
 * The EICAR anti-virus test file (eicar.org), hex-encoded so that no scanner
 * flags this source file itself.
 */
export const EICAR_HEX =
  "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a";

/** The EICAR test file's text. Pure. */
export function eicar(): string {
  return Buffer.from(EICAR_HEX, "hex").toString("latin1");
}

/**
 * The test database: one body signature (ndb: name, any file type, any
 * offset, hex), named as in the real signature set so that the sandbox and
 * production reject EICAR with the same words. Signature files have no
 * comment syntax, so this one has no managed-file header. Pure.
 */
export function renderTestDatabase(): string {
  return `Eicar-Test-Signature:0:*:${EICAR_HEX}\n`;
}

export interface ClamavConfArgs {
  /** Largest message in bytes, as Postfix's. Default DEFAULT_MESSAGE_SIZE_LIMIT. */
  readonly maxBytes?: number;
}

export interface ClamavArgs extends ClamavConfArgs {
  readonly connection: HostConnection;
  /** freshclam keeps the signatures current (mailstack:clamavUpdates). Default true. */
  readonly updates?: boolean;
  /** Resources the packages wait for (host base). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** /etc/clamav/clamd.conf. Pure. */
export function renderClamdConf(args: ClamavConfArgs): string {
  return render("clamav/clamd.conf", {
    socket: CLAMD_SOCKET,
    maxBytes: args.maxBytes ?? DEFAULT_MESSAGE_SIZE_LIMIT,
  });
}

/** Every file of the ClamAV push: clamd.conf, and the test database without updates. Pure. */
export function clamavFiles(
  args: ClamavConfArgs,
  updates: boolean,
): { readonly path: string; readonly content: string; readonly owner?: string; readonly group?: string }[] {
  return [
    { path: "/etc/clamav/clamd.conf", content: renderClamdConf(args) },
    ...(updates
      ? []
      : [{ path: TEST_DATABASE_PATH, content: renderTestDatabase(), owner: "clamav", group: "clamav" }]),
  ];
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
