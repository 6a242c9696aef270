// Fail2ban: jails for sshd, Postfix (port 25 abuse and SASL failures), Dovecot
// (IMAP, POP3 and submission logins) and recidive, banning through UFW. Every
// jail reads a log file that rsyslog writes: the mail log (Postfix's and
// Dovecot's syslog lines) and sshd's auth.log, so the jails work with and
// without a systemd journal. This concern also owns rsyslog and its rotation's
// reopen. Two pushes: the jails, checked with `fail2ban-client -t`, and
// rsyslog-rotate.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, raw, runScript } from "../../core/remote";
import { type Fail2banConfArgs, JAILS, renderJailLocal } from "./render";

export const FAIL2BAN_PACKAGES = ["fail2ban"] as const;
/** Writes the mail log and sshd's auth.log, which the jails read. */
export const RSYSLOG_PACKAGE = "rsyslog";
/** What logrotate's rsyslog entry runs after a rotation; mailstack's, the package's diverted. */
export const RSYSLOG_ROTATE = "/usr/lib/rsyslog/rsyslog-rotate";

export interface Fail2banArgs extends Fail2banConfArgs {
  readonly connection: HostConnection;
  /** Resources to wait for (the firewall, Postfix, Dovecot). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class Fail2ban extends pulumi.ComponentResource {
  /** Installed versions of fail2ban and rsyslog. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The jails running. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: Fail2banArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:fail2ban:Fail2ban", name, {}, opts);
    const conn = args.connection;
    const jail = renderJailLocal(args);
    const after = { parent: this, dependsOn: [...(args.dependsOn ?? [])] };
    // rsyslog and the log files the jails read come first: the fail2ban
    // package starts Fail2ban on install, and a jail without its file fails
    // the start, and so the install.
    const rsyslog = installPackages(`${name}-rsyslog`, conn, [RSYSLOG_PACKAGE], after);
    const logs = runScript(`${name}-logs`, conn, "fail2ban/logs.sh", [], {
      parent: this,
      dependsOn: [rsyslog],
    });
    // rsyslog is the mail log's one writer; after logrotate rotates its files
    // it must reopen them, with systemd or without (files/fail2ban/rsyslog-rotate.sh).
    const rotation = new ConfigPush(
      `${name}-log-rotation`,
      {
        connection: conn,
        files: [{ path: RSYSLOG_ROTATE, content: raw("fail2ban/rsyslog-rotate.sh"), mode: "0755" }],
        check: [`bash -n ${RSYSLOG_ROTATE}`],
      },
      { parent: this, dependsOn: [logs] },
    );
    const packages = installPackages(`${name}-packages`, conn, FAIL2BAN_PACKAGES, {
      parent: this,
      dependsOn: [logs, rotation],
    });
    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files: [{ path: "/etc/fail2ban/jail.d/mailstack.local", content: jail }],
        check: ["fail2ban-client -t >/dev/null"],
        reload: { service: "fail2ban", action: "restart" },
        verify: [
          `jails() { [ "$(fail2ban-client status 2>/dev/null | sed -n 's/.*Number of jail:[[:space:]]*//p')" = ${JAILS.length} ]; }; wait_until 20 "Fail2ban to run its ${JAILS.length} jails" jails || { fail2ban-client status >&2; exit 1; }`,
        ],
      },
      { parent: this, dependsOn: [packages] },
    );
    this.versions = pulumi.interpolate`${rsyslog.stdout}\n${packages.stdout}`.apply(parseVersions);
    this.ready = config;
    this.registerOutputs({ versions: this.versions });
  }
}
