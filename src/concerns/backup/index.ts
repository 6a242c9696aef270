// Backups: restic into the storage bucket, and the bucket itself.
export { BACKUP_COMMON, BACKUP_CONF, BACKUP_PACKAGES, Backup, type BackupArgs } from "./component";
export {
  BACKUP_ENV,
  BACKUP_PATHS,
  renderBackupConf,
  renderBackupCron,
  renderBackupEnv,
  resticRepository,
} from "./render";
export * as settings from "./settings";
export { type BackupSettings, backupProblems, DEFAULT_BACKUP } from "./settings";
export {
  BACKUP_BUCKET_ACTIONS,
  BACKUP_DENIED_ADMIN_ACTIONS,
  BACKUP_DENIED_OBJECT_ACTIONS,
  BACKUP_OBJECT_ACTIONS,
  type BackupTarget,
  backupLifecycleRules,
  backupPolicy,
  bucketNameProblem,
  canonicalPolicy,
  DEFAULT_S3_REGION,
  DEFAULT_VERSION_RETENTION_DAYS,
  defaultBucketName,
  type ExternalStorageArgs,
  endpointProblem,
  LIFECYCLE_RULE_ID,
  MAIL_SERVER_POLICY,
  MAIL_SERVER_USER,
  MAX_VERSION_RETENTION_DAYS,
  MailStorage,
  type MailStorageArgs,
  type MinioStorageArgs,
  normalizeEndpoint,
  type PolicyDocument,
  type PolicyStatement,
  regionProblem,
  type StorageAudit,
  storageProblems,
} from "./storage";
