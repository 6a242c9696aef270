// Dovecot: the mailboxes. IMAPS and POP3S for clients, LMTP for Postfix's
// deliveries and the auth socket for Postfix's submission logins, all against
// the mail database (dovecot-sql.conf.ext from components/lookups.ts). Maildir
// per user, owned by one OS user, vmail. Every file reaches the host in one
// ConfigPush, checked with `doveconf -n`.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DATABASE_SPEC, type DatabaseSpec } from "./database-spec";
import { renderDovecotSql } from "./lookups";
import { MAIL_LOG } from "./postfix";
import { ConfigPush, commandConnection, type HostConnection } from "./push";
import { installPackages, script } from "./remote";
import { render } from "./template";

export const DOVECOT_PACKAGES = [
  "dovecot-core",
  "dovecot-imapd",
  "dovecot-pop3d",
  "dovecot-lmtpd",
  "dovecot-pgsql",
] as const;

/** The fragments of files/dovecot/conf.d that dovecot.conf includes, in order. */
export const DOVECOT_FRAGMENTS = [
  "10-auth.conf",
  "10-logging.conf",
  "10-mail.conf",
  "10-master.conf",
  "10-ssl.conf",
  "20-lmtp.conf",
] as const;
export type DovecotFragment = (typeof DOVECOT_FRAGMENTS)[number];

export interface DovecotConfArgs {
  /** Certificate chain, PEM. */
  readonly certPath: string;
  /** Private key, PEM. */
  readonly keyPath: string;
  /** Address named in LMTP rejections. */
  readonly postmaster: string;
  /** Root of the mailboxes. Default /var/vmail. */
  readonly mailRoot?: string;
  /** uid and gid of the vmail user and group. Default 5000. */
  readonly vmailUid?: number;
}

export interface DovecotArgs extends DovecotConfArgs {
  readonly connection: HostConnection;
  /** Database and lookup role names. Default DATABASE_SPEC. */
  readonly spec?: DatabaseSpec;
  /** Resources the packages and config wait for (Postfix, database, certificate). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

const DEFAULT_MAIL_ROOT = "/var/vmail";
const DEFAULT_VMAIL_UID = 5000;

/** Throws unless the Dovecot inputs are well formed. Pure. */
export function validateDovecot(args: DovecotConfArgs): void {
  const problems: string[] = [];
  for (const p of [args.certPath, args.keyPath, args.mailRoot ?? DEFAULT_MAIL_ROOT]) {
    if (!/^\/[A-Za-z0-9._/-]*[^/]$/.test(p)) problems.push(`"${p}" is not an absolute path`);
  }
  const uid = args.vmailUid ?? DEFAULT_VMAIL_UID;
  if (!Number.isInteger(uid) || uid < 1000 || uid > 60000) {
    problems.push(`vmail uid ${uid} must be a whole number from 1000 to 60000 (not a system account)`);
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(args.postmaster)) {
    problems.push(`postmaster "${args.postmaster}" is not an address (mailstack:adminEmail)`);
  }
  if (problems.length > 0) throw new Error(`dovecot: ${problems.join("; ")}`);
}

/** /etc/dovecot/dovecot.conf. Pure. */
export function renderDovecotConf(): string {
  return render("dovecot/dovecot.conf", {});
}

/** One fragment of /etc/dovecot/conf.d. Pure. */
export function renderDovecotFragment(fragment: DovecotFragment, args: DovecotConfArgs): string {
  validateDovecot(args);
  const source = `dovecot/conf.d/${fragment}`;
  switch (fragment) {
    case "10-auth.conf":
    case "10-master.conf":
      return render(source, {});
    case "10-logging.conf":
      return render(source, { logPath: MAIL_LOG });
    case "10-mail.conf":
      return render(source, {
        mailRoot: args.mailRoot ?? DEFAULT_MAIL_ROOT,
        vmailUid: args.vmailUid ?? DEFAULT_VMAIL_UID,
      });
    case "10-ssl.conf":
      return render(source, { certPath: args.certPath, keyPath: args.keyPath });
    case "20-lmtp.conf":
      return render(source, { postmaster: args.postmaster });
    default: {
      const never: never = fragment;
      throw new Error(`unknown dovecot fragment ${never}`);
    }
  }
}

/** Every file of the Dovecot push. Pure. */
export function dovecotFiles(
  args: DovecotConfArgs,
  spec: DatabaseSpec,
): { readonly path: string; readonly content: string; readonly group?: string; readonly mode?: string }[] {
  return [
    { path: "/etc/dovecot/dovecot.conf", content: renderDovecotConf() },
    ...DOVECOT_FRAGMENTS.map((f) => ({
      path: `/etc/dovecot/conf.d/${f}`,
      content: renderDovecotFragment(f, args),
    })),
    // No password in it (peer authentication); only Dovecot needs to read it.
    {
      path: "/etc/dovecot/dovecot-sql.conf.ext",
      content: renderDovecotSql(spec, { mailRoot: args.mailRoot ?? DEFAULT_MAIL_ROOT, vmailUser: "vmail" }),
      group: "dovecot",
      mode: "0640",
    },
  ];
}

export class Dovecot extends pulumi.ComponentResource {
  /** Installed versions of the Dovecot packages. */
  readonly versions: pulumi.Output<string>;
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

    const packages = installPackages(`${name}-packages`, conn, DOVECOT_PACKAGES, after);
    const vmail = new command.remote.Command(
      `${name}-vmail`,
      {
        connection: commandConnection(conn),
        create: script(conn.user, "dovecot/vmail.sh", [String(uid), mailRoot]),
        addPreviousOutputInEnv: false,
      },
      after,
    );

    const sockets = ["/var/spool/postfix/private/auth", "/var/spool/postfix/private/dovecot-lmtp"];
    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files: files.map((f) => ({ ...f })),
        // doveconf parses everything dovecot.conf includes and reads the
        // certificate and key, as Dovecot itself would at start.
        check: ["doveconf -n >/dev/null"],
        reload: { service: "dovecot", action: "reload" },
        // Postfix cannot deliver or log anyone in without these two.
        verify: [
          `for i in $(seq 50); do ${sockets.map((s) => `[ -S ${s} ]`).join(" && ")} && exit 0; sleep 0.2; done; echo "Dovecot's sockets for Postfix are missing" >&2; exit 1`,
        ],
      },
      { parent: this, dependsOn: [packages, vmail] },
    );

    this.versions = packages.stdout;
    this.result = config.result;
    this.ready = config;
    this.registerOutputs({ versions: this.versions, result: this.result });
  }
}
