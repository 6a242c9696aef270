// Every host path, socket, user and port that two or more concerns share.
// A value used by one concern only stays in that concern's room.

/** The one mail log of the host: rsyslog writes it from Postfix's and Dovecot's syslog lines; Fail2ban and the health check read it. */
export const MAIL_LOG = "/var/log/mail.log";

/** Root of the mailboxes; each user's home is `<MAIL_ROOT>/<domain>/<localpart>`. */
export const MAIL_ROOT = "/var/vmail";

/**
 * Default of mailstack:messageSizeLimit, the largest message in bytes: 35 MiB
 * (36700160). A 25 MiB attachment, what the large providers let users attach,
 * is 34952536 bytes in base64 and 35872340 with its line breaks (CRLF after
 * every 76 characters); 35 MiB leaves about 800 KiB for headers and the text.
 */
export const DEFAULT_MESSAGE_SIZE_LIMIT = 35 * 1024 * 1024;

/**
 * What a hop behind the front doors (the cleanup of Postfix's loopback
 * submission listener, Rspamd, clamd) accepts beyond
 * mailstack:messageSizeLimit: 1 MiB for the trace headers added on the way
 * and the envelope records Postfix counts too (about 100 bytes a
 * recipient). A message a front door took is then never refused, or let
 * through unscanned, further in.
 */
export const MESSAGE_SIZE_MARGIN = 1024 * 1024;

/**
 * What Dovecot's submission service (2.3) allows for what it adds to a
 * message it relays, its trace header: SUBMISSION_MAX_ADDITIONAL_MAIL_SIZE.
 * Once logged in, it announces the relay's SIZE less this as its own and
 * refuses a MAIL FROM whose SIZE= is over that. Postfix's loopback listener
 * holds 587 and 465 to mailstack:messageSizeLimit itself, counting that
 * header, so one byte over the limit is always refused; Dovecot announces
 * the limit less this, before the login too.
 */
export const SUBMISSION_SIZE_ALLOWANCE = 1024;

/**
 * Where Dovecot's submission service relays the mail it has accepted: a
 * Postfix listener on loopback that trusts XCLIENT from this address only.
 */
export const SUBMISSION_RELAY = { host: "127.0.0.1", port: 10587 } as const;

/** Where Postfix reaches Rspamd's milter (the proxy worker). */
export const RSPAMD_MILTER = { host: "127.0.0.1", port: 11332 } as const;
/** Rspamd's controller: statistics and Bayes training (Dovecot's sieve), loopback only. */
export const RSPAMD_CONTROLLER = { host: "127.0.0.1", port: 11334 } as const;

/** clamd's socket, as the ClamAV component configures it and Rspamd reaches it. */
export const CLAMD_SOCKET = "/var/run/clamav/clamd.ctl";

/** Where the DKIM private keys live on the host (Rspamd signs with them; backups keep them). */
export const DKIM_KEY_DIR = "/var/lib/rspamd/dkim";

/** Where PostgreSQL's socket lives on Debian and Ubuntu (Postfix's and Dovecot's lookups). */
export const PG_SOCKET_DIR = "/var/run/postgresql";

/** certbot's webroot: it writes each HTTP-01 token under .well-known/acme-challenge/; nginx serves it. */
export const ACME_WEBROOT = "/var/lib/mailstack/acme";

/** Ports the mission opens on every mail host, besides SSH. */
export const MAIL_PORTS = [
  { port: 25, service: "smtp" },
  { port: 80, service: "http (ACME challenges)" },
  { port: 443, service: "https" },
  { port: 465, service: "smtps" },
  { port: 587, service: "submission" },
  { port: 993, service: "imaps" },
  { port: 995, service: "pop3s" },
] as const;
