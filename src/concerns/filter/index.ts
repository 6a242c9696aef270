// The filter: Rspamd (spam, greylisting, DKIM signing) and ClamAV.
export { CLAMAV_PACKAGES, Clamav, type ClamavArgs, eicar } from "./clamav";
export {
  CLAMD_DEFAULT_LIMITS,
  type ClamavConfArgs,
  clamavFiles,
  dkimKeyPath,
  EICAR_HEX,
  filterSizeLimit,
  NETWORK_MODULES,
  REDIS,
  RSPAMD_FILES,
  type RspamdConfArgs,
  type RspamdFile,
  renderClamdConf,
  renderNetworkModule,
  renderRspamdFile,
  renderTestDatabase,
  rspamdFiles,
  TEST_DATABASE_PATH,
} from "./render";
export { RSPAMD_PACKAGES, Rspamd, type RspamdArgs } from "./rspamd";
export * as settings from "./settings";
export { DEFAULT_SPAM_ACTIONS, type FilterConfig, type SpamActions, spamActionsProblems } from "./settings";
