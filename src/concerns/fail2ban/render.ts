// Fail2ban's files, rendered from typed settings. Pure: no config, no Pulumi.
import { MAIL_LOG } from "../../core/host-layout";
import { render } from "../../core/template";
import { DEFAULT_FAIL2BAN, type Fail2banSettings, fail2banProblems } from "./settings";

/** The jails, as fail2ban-client names them. */
export const JAILS = ["sshd", "postfix", "postfix-sasl", "dovecot", "recidive"] as const;

export interface Fail2banConfArgs {
  /** Default DEFAULT_FAIL2BAN. */
  readonly settings?: Fail2banSettings;
  /** The port sshd listens on. */
  readonly sshPort: number;
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
