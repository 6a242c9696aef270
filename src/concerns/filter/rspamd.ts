// Rspamd: the spam filter, as Postfix's milter for mail from port 25 and for
// submissions alike, with Redis (on this host, loopback only) for Bayes,
// greylisting and the other stateful modules, and ClamAV (src/concerns/filter/clamav.ts)
// through its antivirus module. Its files are local.d overrides of the
// distribution's config, pushed in one ConfigPush and checked with
// `rspamadm configtest`.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CLAMD_SOCKET, DKIM_KEY_DIR, RSPAMD_CONTROLLER, RSPAMD_MILTER } from "../../core/host-layout";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions } from "../../core/remote";
import { render } from "../../core/template";
import type { DkimKey } from "../dkim/component";
import { DEFAULT_SPAM_ACTIONS, type SpamActions, spamActionsProblems } from "./settings";

export const RSPAMD_PACKAGES = ["rspamd", "redis-server"] as const;

/** The distribution's Redis, which listens on loopback. */
export const REDIS = { host: "127.0.0.1", port: 6379 } as const;

/**
 * Rspamd modules that ask servers outside the host: DNS blocklists (rbl, which
 * holds the URL lists too), the rspamd.com fuzzy hashes, ASN lookups and
 * following URL redirectors. mailstack:spamNetworkChecks false turns them off.
 */
export const NETWORK_MODULES = ["rbl", "fuzzy_check", "asn", "url_redirector"] as const;

export interface RspamdConfArgs {
  /** Default DEFAULT_SPAM_ACTIONS. */
  readonly actions?: SpamActions;
  /** Defer a message scoring at least actions.greylist once. Default true. */
  readonly greylisting?: boolean;
  /** The modules of NETWORK_MODULES. Default true. */
  readonly networkChecks?: boolean;
  /** Act on GTUBE's non-reject variants (mailstack:spamTestPatterns). Default false. */
  readonly testPatterns?: boolean;
  /** Each signed domain's signing selector. Default none: nothing is signed. */
  readonly dkimSigning?: readonly { readonly domain: string; readonly selector: string }[];
}

export interface RspamdArgs extends Omit<RspamdConfArgs, "dkimSigning"> {
  readonly connection: HostConnection;
  /** Every published DKIM key (src/concerns/dkim/component.ts); the signing ones sign. Default none. */
  readonly dkimKeys?: readonly DkimKey[];
  /** Resources the packages and config wait for (host base, ClamAV). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
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

const LOCAL_D = "/etc/rspamd/local.d";

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
      return render(source, { testPatterns: String(args.testPatterns ?? false) });
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

/** Every file of the Rspamd push. Pure. */
export function rspamdFiles(args: RspamdConfArgs): { readonly path: string; readonly content: string }[] {
  return [
    ...RSPAMD_FILES.map((f) => ({ path: `${LOCAL_D}/${f}`, content: renderRspamdFile(f, args) })),
    ...NETWORK_MODULES.map((m) => ({
      path: `${LOCAL_D}/${m}.conf`,
      content: renderNetworkModule(m, args.networkChecks ?? true),
    })),
  ];
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
                command: `find ${DKIM_KEY_DIR} -maxdepth 1 -type f -name '*.key' ${keep.join(" ")} -delete && svc restart rspamd`,
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
        // Redis first: Rspamd's Bayes and greylisting need it from the start.
        // A restart, not a reload: a reload that moves a listener makes Rspamd
        // exit (it cannot bind while the old workers hold the port).
        reload: {
          command: `{ redis-cli -h ${REDIS.host} -p ${REDIS.port} ping >/dev/null 2>&1 || svc restart redis-server; } && svc restart rspamd`,
        },
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
