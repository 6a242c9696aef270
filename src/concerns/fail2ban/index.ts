// Fail2ban: jails for sshd, Postfix, Dovecot and recidive, banning through UFW.
export { FAIL2BAN_PACKAGES, Fail2ban, type Fail2banArgs, RSYSLOG_PACKAGE } from "./component";
export { type Fail2banConfArgs, JAILS, renderJailLocal } from "./render";
export * as settings from "./settings";
export { DEFAULT_FAIL2BAN, type Fail2banSettings, fail2banProblems } from "./settings";
