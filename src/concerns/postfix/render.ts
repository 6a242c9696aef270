// Postfix's files, rendered from typed values: main.cf, master.cf, the
// submission header checks and the pgsql maps of src/concerns/database/lookups.ts.
// Pure: no config, no Pulumi.
import { DEFAULT_MESSAGE_SIZE_LIMIT, MESSAGE_SIZE_MARGIN, SUBMISSION_RELAY } from "../../core/host-layout";
import { render } from "../../core/template";
import { POSTFIX_MAPS, renderPostfixMaps } from "../database/lookups";
import type { DatabaseSpec } from "../database/spec";
import { messageSizeLimitProblem } from "./settings";

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
  /**
   * Largest message in bytes (mailstack:messageSizeLimit): port 25's limit;
   * the loopback submission listener's too, its cleanup's MESSAGE_SIZE_MARGIN
   * more. Default DEFAULT_MESSAGE_SIZE_LIMIT.
   */
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

/** Why `limit` cannot be the message size limit, naming the setting; undefined when usable. */
function sizeLimitProblem(limit: number | undefined): string | undefined {
  const why = limit === undefined ? undefined : messageSizeLimitProblem(limit);
  return why === undefined ? undefined : `message size limit ${why} (mailstack:messageSizeLimit)`;
}

/** What is wrong with the main.cf inputs, each naming its setting; empty when usable. Pure. */
export function postfixMainProblems(args: PostfixMainArgs): string[] {
  const problems: string[] = [];
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(args.hostname)) {
    problems.push(`hostname "${args.hostname}" is not a fully qualified name (mailstack:hostname)`);
  }
  for (const p of [args.certPath, args.keyPath]) {
    if (!/^\/[A-Za-z0-9._/-]+$/.test(p)) problems.push(`"${p}" is not an absolute path`);
  }
  const why = sizeLimitProblem(args.messageSizeLimit);
  if (why !== undefined) problems.push(why);
  for (const site of args.dnsblSites ?? []) {
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+(=[0-9.;[\]]+)?(\*-?[0-9]+)?$/i.test(site)) {
      problems.push(`DNS blocklist "${site}" is not a domain with an optional =reply filter and *weight`);
    }
  }
  return problems;
}

/** Throws with every problem of postfixMainProblems. Pure. */
export function validatePostfixMain(args: PostfixMainArgs): void {
  const problems = postfixMainProblems(args);
  if (problems.length > 0) throw new Error(`postfix: ${problems.join("; ")}`);
}

/** /etc/postfix/main.cf. Pure. */
export function renderPostfixMain(args: PostfixMainArgs): string {
  validatePostfixMain(args);
  const dnsblSites = args.dnsblSites ?? [];
  return render("postfix/main.cf", {
    hostname: args.hostname,
    domain: args.hostname.slice(args.hostname.indexOf(".") + 1),
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

/**
 * /etc/postfix/master.cf. The loopback submission listener holds mail from
 * 587 and 465 to the limit, as port 25 is held: Dovecot leaves larger mail
 * to it and passes its 552 on (Dovecot 2.3.19's own limit crashes it,
 * files/dovecot/conf.d/20-submission.conf). Its cleanup, which counts the
 * envelope and the filter's headers too, takes the limit plus
 * MESSAGE_SIZE_MARGIN. Pure.
 */
export function renderPostfixMaster(args: Pick<PostfixMainArgs, "messageSizeLimit"> = {}): string {
  const why = sizeLimitProblem(args.messageSizeLimit);
  if (why !== undefined) throw new Error(`postfix: ${why}`);
  return render("postfix/master.cf", {
    submissionRelay: `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`,
    submissionRelayHost: SUBMISSION_RELAY.host,
    relaySizeLimit: args.messageSizeLimit ?? DEFAULT_MESSAGE_SIZE_LIMIT,
    cleanupSizeLimit: (args.messageSizeLimit ?? DEFAULT_MESSAGE_SIZE_LIMIT) + MESSAGE_SIZE_MARGIN,
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
    { path: "/etc/postfix/master.cf", content: renderPostfixMaster(args) },
    { path: "/etc/postfix/submission_header_checks", content: renderSubmissionHeaderChecks() },
    // The maps hold no password (peer authentication), so they may be world-readable.
    ...POSTFIX_MAPS.map((m) => ({ path: `/etc/postfix/pgsql/${m}.cf`, content: maps[m] })),
  ];
}
