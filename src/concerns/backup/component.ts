// Backups of the mail host with restic, into an S3 bucket (MinIO or any S3;
// src/concerns/backup/storage.ts): encrypted with a secret password, versioned by
// restic's snapshots, on a schedule, pruned by retention settings. Each
// snapshot holds the Maildirs, a consistent dump of the mail database, the
// DKIM keys and the rendered config. mailstack-restore brings back one
// mailbox, the database into a scratch copy, or everything.
import * as pulumi from "@pulumi/pulumi";
import { DKIM_KEY_DIR, MAIL_ROOT } from "../../core/host-layout";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions, raw } from "../../core/remote";
import { render } from "../../core/template";
import { DATABASE_SPEC } from "../database/spec";
import { type BackupSettings, backupProblems } from "./settings";
import type { BackupTarget } from "./storage";

export const BACKUP_PACKAGES = ["restic", "cron"] as const;
export const BACKUP_ENV = "/etc/mailstack/backup.env";
export const BACKUP_CONF = "/etc/mailstack/backup.conf";
/** Sourced by mailstack-backup and mailstack-restore. */
export const BACKUP_COMMON = "/usr/local/lib/mailstack/backup-common.sh";

export interface BackupArgs {
  readonly connection: HostConnection;
  readonly settings: BackupSettings;
  /** Where the snapshots go: the storage bucket and its key (src/concerns/backup/storage.ts). */
  readonly target: BackupTarget;
  /** The restic repository's password (secret). Losing it loses every backup. */
  readonly password: pulumi.Input<string>;
  /** The mail system the backups read (database, Dovecot, Rspamd). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

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

export class Backup extends pulumi.ComponentResource {
  /** The restic repository (no secret in it). */
  readonly repository: pulumi.Output<string>;
  /** Backups configured and the repository reachable with the password. */
  readonly ready: pulumi.Resource;
  /** Installed versions of restic and cron. */
  readonly versions: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:backup:Backup", name, {}, opts);
    const conn = args.connection;
    const t = args.target;
    const packages = installPackages(`${name}-packages`, conn, BACKUP_PACKAGES, {
      parent: this,
      dependsOn: [...(args.dependsOn ?? [])],
    });
    const env = pulumi
      .all([t.endpoint, t.bucket, t.region, t.accessKeyId, t.secretAccessKey, args.password])
      .apply(([endpoint, bucket, region, accessKeyId, secretAccessKey, password]) =>
        renderBackupEnv({ endpoint, bucket, region, accessKeyId, secretAccessKey, password }),
      );
    // The scripts first: the secrets' push runs `mailstack-backup init` to
    // prove the bucket, keys and password work, and rolls back if not.
    const scripts = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files: [
          { path: BACKUP_CONF, content: renderBackupConf(args.settings) },
          { path: BACKUP_COMMON, content: raw("backup/common.sh") },
          {
            path: "/usr/local/sbin/mailstack-backup",
            content: raw("backup/mailstack-backup.sh"),
            mode: "0755",
          },
          {
            path: "/usr/local/sbin/mailstack-restore",
            content: raw("backup/mailstack-restore.sh"),
            mode: "0755",
          },
          { path: "/etc/cron.d/mailstack-backup", content: renderBackupCron(args.settings) },
        ],
        check: [
          `bash -n ${BACKUP_CONF}`,
          `bash -n ${BACKUP_COMMON}`,
          "bash -n /usr/local/sbin/mailstack-backup",
          "bash -n /usr/local/sbin/mailstack-restore",
        ],
      },
      { parent: this, dependsOn: [packages] },
    );
    const secrets = new ConfigPush(
      `${name}-secrets`,
      {
        connection: conn,
        files: [{ path: BACKUP_ENV, content: pulumi.secret(env), secret: true }],
        check: [`bash -n ${BACKUP_ENV}`],
        verify: ["/usr/local/sbin/mailstack-backup init"],
      },
      { parent: this, dependsOn: [scripts] },
    );
    this.ready = secrets;
    this.repository = pulumi.all([t.endpoint, t.bucket]).apply(([e, b]) => resticRepository(e, b));
    this.versions = packages.stdout.apply(parseVersions);
    this.registerOutputs({ repository: this.repository, versions: this.versions });
  }
}
