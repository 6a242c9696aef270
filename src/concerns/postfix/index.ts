// Postfix: SMTP in, submission relay, delivery to Dovecot over LMTP, and the
// message size limit (mailstack:messageSizeLimit).
export { POSTFIX_PACKAGES, Postfix, type PostfixArgs } from "./component";
export {
  POSTSCREEN_GREET_WAIT,
  type PostfixMainArgs,
  postfixFiles,
  postfixMainProblems,
  renderPostfixMain,
  renderPostfixMaster,
  renderSubmissionHeaderChecks,
  validatePostfixMain,
} from "./render";
export * as settings from "./settings";
export {
  DEFAULT_POSTFIX,
  MESSAGE_SIZE_BOUNDS,
  messageSizeLimitProblem,
  type PostfixSettings,
  parseMessageSize,
} from "./settings";
