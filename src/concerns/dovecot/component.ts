// Dovecot: the mailboxes. IMAPS and POP3S for clients, LMTP for Postfix's
// deliveries, submission on 587 and 465 (relayed to Postfix on loopback) and
// the auth socket Postfix checks that relay's logins with, all against
// the mail database (dovecot-sql.conf.ext from src/concerns/database/lookups.ts). Maildir
// per user, owned by one OS user, vmail. Every file reaches the host in one
// ConfigPush, checked with `doveconf -n`. Domains with auth_type ldap log in
// against the company directory (conf.d/11-auth-ldap.conf); the search
// account's password travels in a secret push of its own.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions, runScript } from "../../core/remote";
import { DATABASE_SPEC, type DatabaseSpec } from "../database/spec";
import {
  DEFAULT_MAIL_ROOT,
  DEFAULT_VMAIL_UID,
  type DovecotConfArgs,
  dovecotFiles,
  renderDovecotLdapSecret,
  SIEVE_DIR,
  SIEVE_SCRIPTS,
  validateDovecot,
} from "./render-dovecot";

export const DOVECOT_PACKAGES = [
  "dovecot-core",
  "dovecot-imapd",
  "dovecot-pop3d",
  "dovecot-lmtpd",
  "dovecot-pgsql",
  "dovecot-sieve",
  "dovecot-submissiond",
] as const;

/** The extra package for the LDAP passdb. */
export const DOVECOT_LDAP_PACKAGE = "dovecot-ldap";

/** Where dovecot-ldap.conf.ext includes the search account's password from. */
export const DOVECOT_LDAP_SECRET_PATH = "/etc/dovecot/dovecot-ldap-secret.conf.ext";

export interface DovecotArgs extends DovecotConfArgs {
  readonly connection: HostConnection;
  /** Database and lookup role names. Default DATABASE_SPEC. */
  readonly spec?: DatabaseSpec;
  /** The LDAP search account's password, a secret; required with `ldap`. Default none. */
  readonly ldapBindPassword?: pulumi.Input<string>;
  /** Resources the packages and config wait for (Postfix, database, certificate). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** What the global scripts may use beyond the defaults, for sievec. */
const SIEVEC_EXTENSIONS = "+vnd.dovecot.pipe +vnd.dovecot.environment +imapsieve";

export class Dovecot extends pulumi.ComponentResource {
  /** Installed versions of the Dovecot packages (Dovecot Pro's in obox mode). */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The push's summary line. */
  readonly result: pulumi.Output<string>;
  /** Dovecot installed, configured and running, its sockets in place: depend on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: DovecotArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:dovecot:Dovecot", name, {}, opts);
    validateDovecot(args);
    const spec = args.spec ?? DATABASE_SPEC;
    const conn = args.connection;
    const mailRoot = args.mailRoot ?? DEFAULT_MAIL_ROOT;
    const uid = args.vmailUid ?? DEFAULT_VMAIL_UID;
    const files = dovecotFiles(args, spec);
    const after = { parent: this, dependsOn: [...(args.dependsOn ?? [])] };

    if (args.ldap && args.ldapBindPassword === undefined) {
      throw new pulumi.ResourceError(
        "dovecot: LDAP logins need the bind password (mailstack:ldapBindPassword)",
        this,
      );
    }
    // Dovecot Pro's packages (dovecot-ee-*) conflict with Debian's: in obox
    // mode the operator installs Pro from its own repository, and the stack
    // only checks that it is there.
    const packages = args.obox
      ? runScript(`${name}-packages`, conn, "dovecot/pro-check.sh", [], after)
      : installPackages(
          `${name}-packages`,
          conn,
          args.ldap ? [...DOVECOT_PACKAGES, DOVECOT_LDAP_PACKAGE] : DOVECOT_PACKAGES,
          after,
        );
    const vmail = runScript(`${name}-vmail`, conn, "dovecot/vmail.sh", [String(uid), mailRoot], after);

    // The search account's password, in a push of its own so its diff shows as
    // [secret]. It lands before the config that includes it; a new password
    // takes effect with the reload.
    const secret =
      args.ldap && args.ldapBindPassword !== undefined
        ? new ConfigPush(
            `${name}-ldap-secret`,
            {
              connection: conn,
              files: [
                {
                  path: DOVECOT_LDAP_SECRET_PATH,
                  content: pulumi.output(args.ldapBindPassword).apply(renderDovecotLdapSecret),
                  group: "dovecot",
                  mode: "0640",
                  secret: true,
                },
              ],
              check: ["doveconf -n >/dev/null"],
              reload: { service: "dovecot", action: "reload" },
            },
            { parent: this, dependsOn: [packages, vmail] },
          )
        : undefined;

    const sockets = ["/var/spool/postfix/private/auth", "/var/spool/postfix/private/dovecot-lmtp"];
    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files: files.map((f) => ({ ...f })),
        // doveconf parses everything dovecot.conf includes and reads the
        // certificate and key, as Dovecot itself would at start.
        check: ["doveconf -n >/dev/null"],
        // The global scripts are compiled here, as root: the mail user that
        // runs them cannot write next to them. sievec reads the new files
        // (-c; by default it asks the running Dovecot, which still has the old
        // ones) and, not knowing a script is global or runs in IMAP, is told
        // the extensions those get.
        reload: {
          command: `${SIEVE_SCRIPTS.map((f) => `sievec -c /etc/dovecot/dovecot.conf -o ${shellQuote(`sieve_extensions=${SIEVEC_EXTENSIONS}`)} ${SIEVE_DIR}/${f}`).join(" && ")} && svc reload dovecot`,
        },
        // Postfix cannot deliver or log anyone in without these two.
        verify: [`wait_socket 10 ${sockets.join(" ")}`],
      },
      { parent: this, dependsOn: [packages, vmail, ...(secret ? [secret] : [])] },
    );

    this.versions = packages.stdout.apply(parseVersions);
    this.result = config.result;
    this.ready = config;
    this.registerOutputs({ versions: this.versions, result: this.result });
  }
}
