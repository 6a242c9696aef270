// Fail2ban: jails for sshd, Postfix (port 25 abuse and SASL failures), Dovecot
// (IMAP, POP3 and submission logins) and recidive, banning through UFW. Every
// jail reads a log file: Postfix and Dovecot write the mail log themselves,
// and rsyslog writes sshd's auth.log, so the jails work with and without a
// systemd journal. One push, checked with `fail2ban-client -t`.
import * as pulumi from "@pulumi/pulumi";
import { MAIL_LOG } from "./postfix";
import { ConfigPush, type HostConnection } from "./push";
import { installPackages, runScript } from "./remote";
import { render } from "./template";

export const FAIL2BAN_PACKAGES = ["fail2ban"] as const;
/** Writes sshd's auth.log, which the sshd jail reads. */
export const RSYSLOG_PACKAGE = "rsyslog";

/** The jails, as fail2ban-client names them. */
export const JAILS = ["sshd", "postfix", "postfix-sasl", "dovecot", "recidive"] as const;

/** Thresholds and the allowlist (mailstack:fail2ban). */
export interface Fail2banSettings {
  /** Failures within findTime that ban an address. */
  readonly maxRetry: number;
  /** Fail2ban time, e.g. "10m". */
  readonly findTime: string;
  /** How long a ban lasts, e.g. "1h". */
  readonly banTime: string;
  /** Addresses or networks never banned (operators, monitoring). */
  readonly allowlist: readonly string[];
}

export const DEFAULT_FAIL2BAN: Fail2banSettings = {
  maxRetry: 5,
  findTime: "10m",
  banTime: "1h",
  allowlist: [],
};

export interface Fail2banConfArgs {
  /** Default DEFAULT_FAIL2BAN. */
  readonly settings?: Fail2banSettings;
  /** The port sshd listens on. */
  readonly sshPort: number;
}

export interface Fail2banArgs extends Fail2banConfArgs {
  readonly connection: HostConnection;
  /** Resources to wait for (the firewall, Postfix, Dovecot). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

const TIME = /^[1-9][0-9]*[smhdw]?$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\/(?:3[0-2]|[12]?\d))?$/;
const IPV6 = /^[0-9a-f:]*:[0-9a-f:]*(?:\/(?:12[0-8]|1[01]\d|[1-9]?\d))?$/i;

/** The problems of `s`, each naming the setting; empty when usable. Pure. */
export function fail2banProblems(s: Fail2banSettings): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(s.maxRetry) || s.maxRetry < 1 || s.maxRetry > 1000) {
    problems.push(`maxRetry ${JSON.stringify(s.maxRetry)} must be a whole number from 1 to 1000`);
  }
  for (const k of ["findTime", "banTime"] as const) {
    if (typeof s[k] !== "string" || !TIME.test(s[k])) {
      problems.push(`${k} ${JSON.stringify(s[k])} must be a time such as 600, 30s, 10m, 1h, 1d or 1w`);
    }
  }
  for (const a of s.allowlist) {
    if (typeof a !== "string" || !(IPV4.test(a) || IPV6.test(a))) {
      problems.push(`allowlist entry ${JSON.stringify(a)} is not an IP address or network`);
    }
  }
  return problems;
}

/** /etc/fail2ban/jail.d/mailstack.local. Pure. */
export function renderJailLocal(args: Fail2banConfArgs): string {
  const s = args.settings ?? DEFAULT_FAIL2BAN;
  const problems = fail2banProblems(s);
  if (problems.length > 0) throw new Error(`fail2ban: ${problems.join("; ")} (mailstack:fail2ban)`);
  return render("fail2ban/jail.local", {
    maxRetry: s.maxRetry,
    findTime: s.findTime,
    banTime: s.banTime,
    ignoreIp: ["127.0.0.1/8", "::1", ...s.allowlist].join(" "),
    sshPort: args.sshPort,
    mailLog: MAIL_LOG,
  });
}

export class Fail2ban extends pulumi.ComponentResource {
  /** Installed versions of fail2ban and rsyslog. */
  readonly versions: pulumi.Output<string>;
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
    const packages = installPackages(`${name}-packages`, conn, FAIL2BAN_PACKAGES, {
      parent: this,
      dependsOn: [logs],
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
    this.versions = pulumi.interpolate`${rsyslog.stdout}\n${packages.stdout}`;
    this.ready = config;
    this.registerOutputs({ versions: this.versions });
  }
}
