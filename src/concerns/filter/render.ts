// The filter's files, rendered from typed values: Rspamd's local.d overrides
// and ClamAV's clamd.conf and test database. Pure: no config, no Pulumi.
import {
  CLAMD_SOCKET,
  DEFAULT_MESSAGE_SIZE_LIMIT,
  DKIM_KEY_DIR,
  MESSAGE_SIZE_MARGIN,
  RSPAMD_CONTROLLER,
  RSPAMD_MILTER,
} from "../../core/host-layout";
import { render } from "../../core/template";
import { DEFAULT_SPAM_ACTIONS, type SpamActions, spamActionsProblems } from "./settings";

// Rspamd (src/concerns/filter/rspamd.ts pushes these).

/** The distribution's Redis, which listens on loopback. */
export const REDIS = { host: "127.0.0.1", port: 6379 } as const;

/**
 * Rspamd modules that ask servers outside the host: DNS blocklists (rbl, which
 * holds the URL lists too), the rspamd.com fuzzy hashes, ASN lookups and
 * following URL redirectors. mailstack:spamNetworkChecks false turns them off.
 */
export const NETWORK_MODULES = ["rbl", "fuzzy_check", "asn", "url_redirector"] as const;

/**
 * The files that point Rspamd's maps.rspamd.com maps at copies on this host
 * when mailstack:spamNetworkChecks is false, relative to /etc/rspamd. A single
 * map is replaced in local.d; a list that must lose its URL needs override.d,
 * because local.d appends to lists. Each file is pushed either way, with the
 * distribution's maps when checks are on, so switching back leaves no
 * offline override behind. greylist needs none: Debian's greylist.conf names
 * only local maps (maps.rspamd.com is in an example comment of greylist.lua).
 */
export const OFFLINE_MAP_FILES = [
  "local.d/multimap.conf",
  "override.d/mid.conf",
  "override.d/mime_types.conf",
  "override.d/phishing.conf",
  "override.d/rbl.conf",
  "override.d/whitelist.conf",
] as const;
export type OfflineMapFile = (typeof OFFLINE_MAP_FILES)[number];

/** The empty maps local.d/multimap.conf reads offline, relative to /etc/rspamd; pushed either way. */
export const LOCAL_MAPS = ["local.d/maps.d/disposable.inc", "local.d/maps.d/freemail.inc"] as const;

export interface RspamdConfArgs {
  /** Default DEFAULT_SPAM_ACTIONS. */
  readonly actions?: SpamActions;
  /** Defer a message scoring at least actions.greylist once. Default true. */
  readonly greylisting?: boolean;
  /** The modules of NETWORK_MODULES, and maps.rspamd.com (OFFLINE_MAP_FILES). Default true. */
  readonly networkChecks?: boolean;
  /** Act on GTUBE's non-reject variants (mailstack:spamTestPatterns). Default false. */
  readonly testPatterns?: boolean;
  /** Each signed domain's signing selector. Default none: nothing is signed. */
  readonly dkimSigning?: readonly { readonly domain: string; readonly selector: string }[];
  /**
   * Largest message in bytes (mailstack:messageSizeLimit); Rspamd's max_message
   * is MESSAGE_SIZE_MARGIN more. Default DEFAULT_MESSAGE_SIZE_LIMIT.
   */
  readonly messageSizeLimit?: number;
}

/**
 * The largest message the filter takes: what Postfix may hand it, the limit
 * and the headers added on the way. Rspamd does not pass a larger one (a 4xx
 * the sender retries for days), and clamd drops a larger stream unscanned. Pure.
 */
export function filterSizeLimit(messageSizeLimit: number | undefined): number {
  const limit = messageSizeLimit ?? DEFAULT_MESSAGE_SIZE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw new Error(
      `message size limit ${limit} is not a whole number of bytes (mailstack:messageSizeLimit)`,
    );
  }
  return limit + MESSAGE_SIZE_MARGIN;
}

/** The local.d files of the push, without the network modules. */
export const RSPAMD_FILES = [
  "actions.conf",
  "antivirus.conf",
  "classifier-bayes.conf",
  "dkim_signing.conf",
  "greylist.conf",
  "options.inc",
  "redis.conf",
  "worker-controller.inc",
  "worker-normal.inc",
  "worker-proxy.inc",
] as const;
export type RspamdFile = (typeof RSPAMD_FILES)[number];

const CONF_DIR = "/etc/rspamd";
const LOCAL_D = `${CONF_DIR}/local.d`;

/**
 * How a config push reaches the running Rspamd. Pure. Redis first: Bayes and
 * greylisting need it from the start. Then a reload (SIGHUP): the main process
 * keeps its listening sockets, starts workers on the new config and lets the
 * old ones finish their messages, so no sender sees a 4xx (bench/filter-reload.sh).
 * Only a change to a worker's file (its listener) needs a restart: a reload
 * that moves a listener makes Rspamd exit, as it cannot bind while the old
 * workers hold the port. The push runner names the changed files in
 * MAILSTACK_CHANGED.
 */
export function rspamdReloadCommand(): string {
  const redis = `redis-cli -h ${REDIS.host} -p ${REDIS.port} ping >/dev/null 2>&1 || svc restart redis-server`;
  return `{ ${redis}; } && case "$MAILSTACK_CHANGED" in *${LOCAL_D}/worker-*) svc restart rspamd ;; *) svc reload rspamd ;; esac`;
}

/** The key file of one selector. Pure. */
export function dkimKeyPath(domain: string, selector: string): string {
  return `${DKIM_KEY_DIR}/${domain}.${selector}.key`;
}

/** One local.d file. Pure. */
export function renderRspamdFile(file: RspamdFile, args: RspamdConfArgs): string {
  const actions = args.actions ?? DEFAULT_SPAM_ACTIONS;
  const problems = spamActionsProblems(actions);
  if (problems.length > 0) {
    throw new Error(
      `spam actions: ${problems.join("; ")} (mailstack:spamActions, e.g. {"reject": 15, "addHeader": 6, "greylist": 4})`,
    );
  }
  const source = `rspamd/local.d/${file}`;
  switch (file) {
    case "actions.conf":
      return render(source, {
        actions: [
          `reject = ${actions.reject ?? "null"};`,
          `add_header = ${actions.addHeader};`,
          `greylist = ${actions.greylist};`,
        ].join("\n"),
      });
    case "antivirus.conf":
      return render(source, { clamdSocket: CLAMD_SOCKET });
    case "greylist.conf":
      return render(source, { enabled: String(args.greylisting ?? true) });
    case "dkim_signing.conf":
      return render(source, {
        keyDir: DKIM_KEY_DIR,
        domains:
          (args.dkimSigning ?? [])
            .map((d) =>
              [
                `  ${d.domain} {`,
                `    selector = "${d.selector}";`,
                `    path = "${dkimKeyPath(d.domain, d.selector)}";`,
                "  }",
              ].join("\n"),
            )
            .join("\n") || "  # No domain signs.",
      });
    case "redis.conf":
      return render(source, { redis: `${REDIS.host}:${REDIS.port}` });
    case "worker-controller.inc":
      return render(source, { controllerSocket: `${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port}` });
    case "worker-proxy.inc":
      return render(source, { milterSocket: `${RSPAMD_MILTER.host}:${RSPAMD_MILTER.port}` });
    case "options.inc":
      return render(source, {
        testPatterns: String(args.testPatterns ?? false),
        maxMessage: filterSizeLimit(args.messageSizeLimit),
      });
    case "classifier-bayes.conf":
    case "worker-normal.inc":
      return render(source, {});
    default: {
      const never: never = file;
      throw new Error(`unknown rspamd file ${never}`);
    }
  }
}

/** The override of one network module: off, or the module's own defaults. Pure. */
export function renderNetworkModule(module: (typeof NETWORK_MODULES)[number], on: boolean): string {
  return render("rspamd/local.d/network-module.conf", {
    module,
    setting: on ? "# On, with the module's defaults." : "enabled = false;",
  });
}

/** One module's maps: the distribution's (on), or the copies on this host (off). Pure. */
export function renderOfflineMapFile(file: OfflineMapFile, on: boolean): string {
  const module = file.slice(file.indexOf("/") + 1, -".conf".length);
  return on ? render("rspamd/network-maps.conf", { module }) : render(`rspamd/${file}`, {});
}

/** One of the empty maps of LOCAL_MAPS. Pure. */
export function renderLocalMap(file: (typeof LOCAL_MAPS)[number]): string {
  return render(`rspamd/${file}`, {});
}

/** Every file of the Rspamd push. Pure. */
export function rspamdFiles(args: RspamdConfArgs): { readonly path: string; readonly content: string }[] {
  return [
    ...RSPAMD_FILES.map((f) => ({ path: `${LOCAL_D}/${f}`, content: renderRspamdFile(f, args) })),
    ...NETWORK_MODULES.map((m) => ({
      path: `${LOCAL_D}/${m}.conf`,
      content: renderNetworkModule(m, args.networkChecks ?? true),
    })),
    ...OFFLINE_MAP_FILES.map((f) => ({
      path: `${CONF_DIR}/${f}`,
      content: renderOfflineMapFile(f, args.networkChecks ?? true),
    })),
    ...LOCAL_MAPS.map((f) => ({ path: `${CONF_DIR}/${f}`, content: renderLocalMap(f) })),
  ];
}

// ClamAV (src/concerns/filter/clamav.ts pushes these).

/** The test database that replaces the real signatures without updates. */
export const TEST_DATABASE_PATH = "/var/lib/clamav/mailstack-test.ndb";

/**
 * The EICAR anti-virus test file (eicar.org), hex-encoded so that no scanner
 * flags this source file itself.
 */
export const EICAR_HEX =
  "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a";

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
  /**
   * Largest message in bytes (mailstack:messageSizeLimit); clamd takes a
   * stream MESSAGE_SIZE_MARGIN larger. Default DEFAULT_MESSAGE_SIZE_LIMIT.
   */
  readonly messageSizeLimit?: number;
}

/**
 * clamd's own defaults for the size of one file (also one unpacked from an
 * archive) and for all the data of one scan, in ClamAV 1.0 (Debian 12): the
 * limits never go below them, so a small message size limit does not leave
 * the contents of an archive unscanned.
 */
export const CLAMD_DEFAULT_LIMITS = { maxFileSize: 100 * 2 ** 20, maxScanSize: 400 * 2 ** 20 } as const;

/** /etc/clamav/clamd.conf. Pure. */
export function renderClamdConf(args: ClamavConfArgs): string {
  const stream = filterSizeLimit(args.messageSizeLimit);
  return render("clamav/clamd.conf", {
    socket: CLAMD_SOCKET,
    streamMaxLength: stream,
    maxFileSize: Math.max(stream, CLAMD_DEFAULT_LIMITS.maxFileSize),
    maxScanSize: Math.max(stream, CLAMD_DEFAULT_LIMITS.maxScanSize),
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
