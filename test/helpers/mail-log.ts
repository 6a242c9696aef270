// Reading the mail log: what counts as a problem, and the lines the suite
// provokes on purpose, each with why. Unit tests check the allowlist's
// patterns against rendered config; the sandbox's hygiene check applies it.

/** A log line that may contain error/warning words, and why it is there. */
export interface AllowedLogLine {
  readonly pattern: RegExp;
  readonly why: string;
}

/** What the log check looks for, as the issue words it. */
const PROBLEM = /\berror\b|\bfatal\b|\bpanic\b|warning:/i;

/**
 * The lines the suite provokes on purpose. Each is as narrow as the message
 * allows, so the same words for another cause still fail the check.
 */
export const MAIL_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    // The TLS 1.0/1.1 handshakes below, on port 25: Postfix names the refused version.
    pattern:
      /postfix\/smtpd\[\d+\]: warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:/,
    why: "TLS 1.0/1.1 refused by Postfix, probed on purpose",
  },
  {
    // Its companion line carries no reason; the "TLS library problem" line
    // next to it does, and any other reason there is still flagged.
    pattern: /postfix\/smtpd\[\d+\]: SSL_accept error from \S+\[[0-9a-f.:]+\]: -1$/,
    why: "the first line of a refused TLS 1.0/1.1 handshake",
  },
  {
    // Dovecot (IMAPS, POP3S, submission) logs the same refusal at Info level,
    // quoting OpenSSL's "error:" code.
    pattern:
      /(imap|pop3|submission)-login: (Info: )?Disconnected: .*SSL_accept\(\) failed: error:0A000102:SSL routines::unsupported protocol/,
    why: "TLS 1.0/1.1 refused by Dovecot, probed on purpose",
  },
  {
    // Every deployment that changes Dovecot's config reloads it, and Dovecot
    // logs each reload at Warning level.
    pattern: /master: Warning: SIGHUP received - reloading configuration$/,
    why: "Dovecot reloaded by the push of an up",
  },
  {
    // After such a reload the old processes live on while their clients keep
    // their connections (up to their idle timeout), and Dovecot says so once.
    // Nothing is lost.
    pattern: /master: Warning: Processes aren't dying after reload\b/,
    why: "an up reloaded Dovecot while connections to it were open",
  },
  {
    // The pregreet bot below: postscreen refuses its RCPT with "Protocol
    // error". Only this bot's HELO name; a real bot's line still fails.
    pattern:
      /postfix\/postscreen\[\d+\]: NOQUEUE: reject: RCPT from \[[^\]]+\]:\d+: 550 5\.5\.1 Protocol error; .*helo=<pregreet-[0-9a-f]{8}\.example>$/,
    why: "the pregreet bot of the postscreen case, refused on purpose",
  },
];

/** The lines of `log` that look like a problem and no allowlist entry explains. */
export function unexpectedLogLines(log: string, allowed: readonly AllowedLogLine[]): string[] {
  return log
    .split("\n")
    .filter((l) => PROBLEM.test(l))
    .filter((l) => !allowed.some((a) => a.pattern.test(l)));
}
