// The backups' files, rendered from typed values: backup.conf, the cron
// entry, and backup.env with the repository and its secrets. Pure: no config,
// no Pulumi.
import { DKIM_KEY_DIR, MAIL_ROOT } from "../../core/host-layout";
import { shellQuote } from "../../core/shell";
import { render } from "../../core/template";
import { DATABASE_SPEC } from "../database/spec";
import { type BackupSettings, backupProblems } from "./settings";

/** The repository and its secrets (renderBackupEnv): root only, and kept out of every snapshot. */
export const BACKUP_ENV = "/etc/mailstack/backup.env";

/** What every snapshot holds besides the database dump. */
export const BACKUP_PATHS = [
  MAIL_ROOT,
  DKIM_KEY_DIR,
  "/etc/mailstack",
  "/etc/postfix",
  "/etc/dovecot",
  "/etc/rspamd",
  "/etc/nginx",
  "/etc/fail2ban",
  "/etc/letsencrypt",
  "/etc/ssh/sshd_config.d",
  "/var/lib/mailstack/www",
] as const;

/** restic's S3 repository URL: a folder of the bucket, so the bucket can hold other things. Pure. */
export function resticRepository(endpoint: string, bucket: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`backup: the S3 endpoint ${endpoint} is not an http(s) URL`);
  }
  return `s3:${url.origin}/${bucket}/mailstack`;
}

/** /etc/mailstack/backup.env: the repository, its password and the bucket's keys. Pure; the result is secret. */
export function renderBackupEnv(v: {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  password: string;
}): string {
  const line = (k: string, value: string) => {
    if (value === "" || /[\n\0]/.test(value)) throw new Error(`backup: ${k} is empty or spans lines`);
    return `${k}=${shellQuote(value)}`;
  };
  return [
    "# Managed by mailstack (Pulumi). The backup repository and its secrets; root only.",
    line("RESTIC_REPOSITORY", resticRepository(v.endpoint, v.bucket)),
    line("RESTIC_PASSWORD", v.password),
    line("AWS_ACCESS_KEY_ID", v.accessKeyId),
    line("AWS_SECRET_ACCESS_KEY", v.secretAccessKey),
    line("AWS_DEFAULT_REGION", v.region),
    "",
  ].join("\n");
}

/** /etc/mailstack/backup.conf. Pure. */
export function renderBackupConf(s: BackupSettings): string {
  const problems = backupProblems(s);
  if (problems.length > 0) throw new Error(`backup: ${problems.join("; ")} (mailstack:backup)`);
  return render("backup/backup.conf", {
    paths: BACKUP_PATHS.join(" "),
    excludes: BACKUP_ENV,
    database: s.database ? DATABASE_SPEC.database : "",
    mailRoot: MAIL_ROOT,
    keepLast: s.keepLast,
    keepDaily: s.keepDaily,
    keepWeekly: s.keepWeekly,
    keepMonthly: s.keepMonthly,
    maxAge: s.maxAgeHours * 3600,
  });
}

/** /etc/cron.d/mailstack-backup. Pure. */
export function renderBackupCron(s: BackupSettings): string {
  const [hour, minute] = s.schedule.split(":").map(Number);
  const entry =
    s.schedule === "off"
      ? "# Off (mailstack:backup schedule off): run mailstack-backup by hand."
      : `${minute} ${hour} * * * root /usr/local/sbin/mailstack-backup 2>&1 | logger -t mailstack-backup`;
  return render("backup/cron", { entry });
}
