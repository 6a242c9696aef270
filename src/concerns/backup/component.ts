// Backups of the mail host with restic, into an S3 bucket (MinIO or any S3;
// src/concerns/backup/storage.ts): encrypted with a secret password, versioned by
// restic's snapshots, on a schedule, pruned by retention settings. Each
// snapshot holds the Maildirs, a consistent dump of the mail database, the
// DKIM keys and the rendered config. mailstack-restore brings back one
// mailbox, the database into a scratch copy, or everything.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection } from "../../core/push";
import { installPackages, parseVersions, raw } from "../../core/remote";
import { BACKUP_ENV, renderBackupConf, renderBackupCron, renderBackupEnv, resticRepository } from "./render";
import type { BackupSettings } from "./settings";
import type { BackupTarget } from "./storage";

export const BACKUP_PACKAGES = ["restic", "cron"] as const;
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
