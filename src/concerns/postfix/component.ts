// Postfix: SMTP in on port 25 for our domains (behind postscreen), the mail of
// logged-in users that Dovecot's submission service (587 and 465) relays to it
// on loopback, delivery to Dovecot over LMTP. Accounts come from the mail
// database through the pgsql maps of src/concerns/database/lookups.ts; logins are
// checked by Dovecot. Every
// file reaches the host in one ConfigPush, checked with `postfix check`.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_MESSAGE_SIZE_LIMIT, MAIL_LOG, SUBMISSION_RELAY } from "../../core/host-layout";
import { asRoot, ConfigPush, commandConnection, type HostConnection } from "../../core/push";
import { installPackages, parseVersions } from "../../core/remote";
import { render } from "../../core/template";
import { POSTFIX_MAPS, renderPostfixMaps } from "../database/lookups";
import { DATABASE_SPEC, type DatabaseSpec } from "../database/spec";

/** Postfix and the PostgreSQL map client. */
export const POSTFIX_PACKAGES = ["postfix", "postfix-pgsql"] as const;

/**
 * How long postscreen waits for the end of its greeting (pregreet test):
 * short without DNS blocklists, so the first connection of a new client is
 * delayed little; the default 6 s with them, which their answers need.
 */
export const POSTSCREEN_GREET_WAIT = { withoutDnsbl: "3s", withDnsbl: "6s" } as const;

export interface PostfixMainArgs {
  /** Fully qualified host name (myhostname). */
  readonly hostname: string;
  /** Certificate chain, PEM. */
  readonly certPath: string;
  /** Private key, PEM. */
  readonly keyPath: string;
  /** Largest message in bytes. Default DEFAULT_MESSAGE_SIZE_LIMIT. */
  readonly messageSizeLimit?: number;
  /**
   * DNS blocklists postscreen asks about each new client on port 25, in
   * postscreen_dnsbl_sites syntax (`zen.spamhaus.org*2`, `bl.example=127.0.0.2`).
   * Default none: a host without outside DNS would only time out.
   */
  readonly dnsblSites?: readonly string[];
  /** The filter's milter, as host:port on loopback. Default none: mail is not filtered. */
  readonly milter?: { readonly host: string; readonly port: number };
}

export interface PostfixArgs extends PostfixMainArgs {
  readonly connection: HostConnection;
  /** Database and lookup role names. Default DATABASE_SPEC. */
  readonly spec?: DatabaseSpec;
  /** Resources the packages and config wait for (host base, database, certificate). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** Throws unless the main.cf inputs are well formed. Pure. */
export function validatePostfixMain(args: PostfixMainArgs): void {
  const problems: string[] = [];
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(args.hostname)) {
    problems.push(`hostname "${args.hostname}" is not a fully qualified name (mailstack:hostname)`);
  }
  for (const p of [args.certPath, args.keyPath]) {
    if (!/^\/[A-Za-z0-9._/-]+$/.test(p)) problems.push(`"${p}" is not an absolute path`);
  }
  const limit = args.messageSizeLimit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1024 * 1024)) {
    problems.push(`message size limit ${limit} must be a whole number of bytes, at least 1 MiB`);
  }
  for (const site of args.dnsblSites ?? []) {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+(=[0-9.;[\]]+)?(\*-?[0-9]+)?$/i.test(site)) {
      problems.push(`DNS blocklist "${site}" is not a domain with an optional =reply filter and *weight`);
    }
  }
  if (problems.length > 0) throw new Error(`postfix: ${problems.join("; ")}`);
}

/** /etc/postfix/main.cf. Pure. */
export function renderPostfixMain(args: PostfixMainArgs): string {
  validatePostfixMain(args);
  const dnsblSites = args.dnsblSites ?? [];
  return render("postfix/main.cf", {
    hostname: args.hostname,
    domain: args.hostname.slice(args.hostname.indexOf(".") + 1),
    maillogFile: MAIL_LOG,
    messageSizeLimit: args.messageSizeLimit ?? DEFAULT_MESSAGE_SIZE_LIMIT,
    certPath: args.certPath,
    keyPath: args.keyPath,
    postscreenDnsblSites: dnsblSites.join(", "),
    postscreenGreetWait:
      dnsblSites.length > 0 ? POSTSCREEN_GREET_WAIT.withDnsbl : POSTSCREEN_GREET_WAIT.withoutDnsbl,
    milters: args.milter
      ? [
          `smtpd_milters = inet:${args.milter.host}:${args.milter.port}`,
          "non_smtpd_milters = $smtpd_milters",
          "milter_protocol = 6",
          "milter_default_action = tempfail",
          // The login of a submission, so the filter knows mail as outbound (and signs it).
          "milter_mail_macros = i {mail_addr} {client_addr} {client_name} {auth_authen}",
        ].join("\n")
      : "# No filter configured.",
  });
}

/** /etc/postfix/master.cf. Pure. */
export function renderPostfixMaster(): string {
  return render("postfix/master.cf", {
    submissionRelay: `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`,
    submissionRelayHost: SUBMISSION_RELAY.host,
  });
}

/** Header checks of the submission services' cleanup. Pure. */
export function renderSubmissionHeaderChecks(): string {
  return render("postfix/submission_header_checks", {});
}

/** Every file of the Postfix push, in order: main.cf, master.cf, header checks, pgsql maps. Pure. */
export function postfixFiles(
  args: PostfixMainArgs,
  spec: DatabaseSpec,
): { readonly path: string; readonly content: string }[] {
  const maps = renderPostfixMaps(spec);
  return [
    { path: "/etc/postfix/main.cf", content: renderPostfixMain(args) },
    { path: "/etc/postfix/master.cf", content: renderPostfixMaster() },
    { path: "/etc/postfix/submission_header_checks", content: renderSubmissionHeaderChecks() },
    // The maps hold no password (peer authentication), so they may be world-readable.
    ...POSTFIX_MAPS.map((m) => ({ path: `/etc/postfix/pgsql/${m}.cf`, content: maps[m] })),
  ];
}

export class Postfix extends pulumi.ComponentResource {
  /** Installed versions of the Postfix packages. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The push's summary line. */
  readonly result: pulumi.Output<string>;
  /** Postfix installed, configured and running: depend on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: PostfixArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:postfix:Postfix", name, {}, opts);
    const spec = args.spec ?? DATABASE_SPEC;
    const conn = args.connection;
    const files = postfixFiles(args, spec);

    // The package must not ask questions nor write a main.cf of its own:
    // this push owns it.
    const preseed = new command.remote.Command(
      `${name}-preseed`,
      {
        connection: commandConnection(conn),
        create: asRoot(
          conn.user,
          `sh -c 'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections'`,
        ),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [...(args.dependsOn ?? [])] },
    );
    const packages = installPackages(`${name}-packages`, conn, POSTFIX_PACKAGES, {
      parent: this,
      dependsOn: [preseed],
    });

    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files,
        // postfix check reads main.cf and master.cf and the files they name;
        // postconf prints a warning for every unknown or misspelt parameter,
        // which postfix check lets pass, so any output fails the check too.
        check: [
          "postfix check",
          `out=$(postconf -n 2>&1 >/dev/null); [ -z "$out" ] || { echo "$out"; exit 1; }`,
        ],
        reload: { service: "postfix", action: "reload" },
        verify: ["postfix status"],
      },
      { parent: this, dependsOn: [packages] },
    );

    this.versions = packages.stdout.apply(parseVersions);
    this.result = config.result;
    this.ready = config;
    this.registerOutputs({ versions: this.versions, result: this.result });
  }
}
