// Postfix: SMTP in, submission relay, delivery to Dovecot over LMTP.
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
