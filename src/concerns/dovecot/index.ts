// Dovecot: the mailboxes (Maildir, or obox in the bucket), IMAP, POP3, LMTP, submission, logins.
export {
  DOVECOT_LDAP_PACKAGE,
  DOVECOT_LDAP_SECRET_PATH,
  DOVECOT_PACKAGES,
  Dovecot,
  type DovecotArgs,
} from "./component";
export {
  DOVECOT_MODULE_DIR,
  DovecotObox,
  type DovecotOboxArgs,
  OBOX_CHECKS,
  OBOX_CONF_PATH,
  OBOX_INCLUDED_CHECK,
  OBOX_MISSING,
  OBOX_PLUGIN_CHECK,
  oboxMissing,
  oboxPush,
} from "./obox";
export {
  DOVECOT_FRAGMENTS,
  DOVECOT_LDAP_FRAGMENTS,
  type DovecotConfArgs,
  type DovecotFragment,
  type DovecotLdapArgs,
  type DovecotLdapFragment,
  dovecotFiles,
  dovecotLdapConfPath,
  dovecotLdapFragments,
  dovecotProblems,
  renderDovecotConf,
  renderDovecotFragment,
  renderDovecotLdap,
  renderDovecotLdapFragment,
  renderDovecotLdapSecret,
  renderDovecotLdapSql,
  renderRspamdLearn,
  SIEVE_DIR,
  SIEVE_SCRIPTS,
  validateDovecot,
} from "./render-dovecot";
export {
  DEFAULT_OBOX,
  OBOX_FRAGMENT,
  OBOX_INCLUDE,
  type OboxAddressing,
  type OboxKey,
  type OboxOptions,
  type OboxSettings,
  oboxProblems,
  oboxUrlEscape,
  renderOboxConf,
} from "./render-obox";
export type { LdapConfig } from "./settings";
export * as settings from "./settings";
