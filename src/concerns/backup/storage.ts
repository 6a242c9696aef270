// The S3 bucket backups go to, and the one key that may use it.
//
// minio mode: the stack manages, on a MinIO server through @pulumi/minio, a
// versioned bucket whose overwritten and deleted objects are kept for a
// retention period, a least-privilege policy for that bucket alone, a user
// with that policy and an access key of that user. external mode: an existing
// bucket and key from config, for users who are not on MinIO (and for the
// sandbox); nothing is created and nothing about the bucket is checked.
//
// Either way the component's `target` is all a backup client needs: endpoint,
// bucket, region and the key (secret). Backups run restic's S3 backend on the
// mail host, so the policy grants what restic needs and nothing else.
import * as minio from "@pulumi/minio";
import * as pulumi from "@pulumi/pulumi";
import { keptOnDestroy } from "../../core/lifetime";

/** Fixed names on the MinIO server, so an operator finds them there. */
export const MAIL_SERVER_POLICY = "mail-server-policy";
export const MAIL_SERVER_USER = "mailserver-user";
/** MinIO's and S3's default region; a MinIO with another site region needs mailstack:s3Region. */
export const DEFAULT_S3_REGION = "us-east-1";
/** How long an overwritten or deleted backup object stays recoverable. */
export const DEFAULT_VERSION_RETENTION_DAYS = 30;
/** The longest retention the lifecycle rule takes: ten years. */
export const MAX_VERSION_RETENTION_DAYS = 3650;
/** The lifecycle rule's id on the bucket. */
export const LIFECYCLE_RULE_ID = "expire-noncurrent-versions";

/**
 * Bucket-level actions restic uses: ListBucket lists the repository's files
 * and answers HeadBucket when a repository is opened; GetBucketLocation lets
 * the client find the bucket's region when none is configured.
 * Not granted: ListBucketMultipartUploads, which restic never calls (its
 * client does not resume uploads), and ListBucketVersions, which a restore
 * from restic never needs: recovering an old version is the operator's job,
 * with admin credentials. (MinIO lets ListBucket list versions anyway; that
 * shows history but cannot change it.)
 */
export const BACKUP_BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket"] as const;

/**
 * Object-level actions restic uses: GetObject reads (and HEADs) files,
 * PutObject writes them (it also covers the create/upload-part/complete steps
 * of a multipart upload, which restic's client uses for large packs),
 * DeleteObject is needed by `forget --prune` and to remove its lock files.
 * AbortMultipartUpload is granted because the client aborts a failed
 * multipart upload itself; without it the parts would linger until the
 * server expires them (MinIO after a day, AWS only by a lifecycle rule).
 * ListMultipartUploadParts is not: the client never lists parts.
 * Deliberately absent: DeleteObjectVersion (denied outright, below),
 * PutBucketVersioning, PutLifecycleConfiguration, PutBucketPolicy and
 * DeleteBucket. A delete by this key only adds a delete marker, so even a
 * compromised mail host cannot destroy backup history: old versions expire by
 * the lifecycle rule alone.
 */
export const BACKUP_OBJECT_ACTIONS = [
  "s3:AbortMultipartUpload",
  "s3:DeleteObject",
  "s3:GetObject",
  "s3:PutObject",
] as const;

/**
 * What MinIO lets a key do unless its policy denies it outright, because it
 * counts as the key's own business (cmd/auth-handler.go, cmd/admin-handlers-users.go):
 * - s3:DeleteObjectVersion: MinIO lets s3:DeleteObject delete a given
 *   version for good, where AWS would ask for s3:DeleteObjectVersion; an
 *   intruder on the mail host could then erase the history versioning keeps.
 * - admin:CreateServiceAccount: a user's key may make more keys for that user;
 *   an intruder's own key would outlive the rotation of the stack's one.
 * test/concerns/backup/minio-policy.test.ts shows both happen without these denies.
 */
export const BACKUP_DENIED_OBJECT_ACTIONS = ["s3:DeleteObjectVersion"] as const;
export const BACKUP_DENIED_ADMIN_ACTIONS = ["admin:CreateServiceAccount"] as const;

/** One IAM policy statement, in the subset this stack writes. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  /** One action or several; IAM accepts both forms. */
  readonly Action: string | readonly string[];
  /** Absent for admin actions, which MinIO applies to the whole server. */
  readonly Resource?: string | readonly string[];
}

/** An IAM policy document (the 2012-10-17 language, which MinIO speaks). */
export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

/**
 * The one text of a policy: keys in a fixed order (Version, Statement; Sid,
 * Effect, Action, Resource), statements sorted by Sid, actions and resources
 * always lists, sorted and without duplicates, no whitespace. Two documents
 * that mean the same in this subset give byte-identical text. Pure.
 */
export function canonicalPolicy(doc: PolicyDocument): string {
  const list = (v: string | readonly string[]) => [...new Set(typeof v === "string" ? [v] : v)].sort();
  const statements = [...doc.Statement].sort((a, b) => (a.Sid < b.Sid ? -1 : a.Sid > b.Sid ? 1 : 0));
  return JSON.stringify({
    Version: doc.Version,
    Statement: statements.map((s) => ({
      Sid: s.Sid,
      Effect: s.Effect,
      Action: list(s.Action),
      ...(s.Resource !== undefined ? { Resource: list(s.Resource) } : {}),
    })),
  });
}

/**
 * mail-server-policy: the backup actions on `bucket` and its objects, nothing
 * on any other bucket, no admin action, and the two denies MinIO needs to
 * keep history and keys out of the key's reach.
 *
 * Canonical text (canonicalPolicy), so the IamPolicy's input is the same
 * string on every run and a second `up` has nothing to compare but equal
 * strings. The server's copy is another matter: MinIO keeps actions as a set
 * and writes them back in any order (two reads of one policy can differ), so
 * the provider compares the document it reads back by meaning, not by text,
 * and keeps ours in the state; test/concerns/backup/minio-policy.test.ts checks that the
 * server's copy means exactly this text. Plain JSON rather than
 * pulumi.jsonStringify: the bucket name is plain config, so the whole
 * document is known at preview and shows in the diff. Pure.
 */
export function backupPolicy(bucket: string): string {
  return canonicalPolicy({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "BackupBucket",
        Effect: "Allow",
        Action: BACKUP_BUCKET_ACTIONS,
        Resource: `arn:aws:s3:::${bucket}`,
      },
      {
        Sid: "BackupObjects",
        Effect: "Allow",
        Action: BACKUP_OBJECT_ACTIONS,
        Resource: `arn:aws:s3:::${bucket}/*`,
      },
      {
        Sid: "KeepVersions",
        Effect: "Deny",
        Action: BACKUP_DENIED_OBJECT_ACTIONS,
        Resource: `arn:aws:s3:::${bucket}/*`,
      },
      { Sid: "NoNewKeys", Effect: "Deny", Action: BACKUP_DENIED_ADMIN_ACTIONS },
    ],
  });
}

/**
 * The bucket's lifecycle: every noncurrent version (an object overwritten or
 * deleted, by restic's prune or by an intruder holding the key) is removed
 * `days` after it stopped being current. Pure.
 */
export function backupLifecycleRules(days: number): minio.types.input.IlmPolicyRule[] {
  return [{ id: LIFECYCLE_RULE_ID, status: "Enabled", noncurrentVersionExpirationDays: days }];
}

/** mail-<first domain, dots as dashes>: mail-tlabs-team for tlabs.team. Pure. */
export function defaultBucketName(domain: string): string {
  return `mail-${domain.replaceAll(".", "-")}`;
}

/** Why `name` is not a bucket name S3 and MinIO accept, or undefined. Pure. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return "must be 3 to 63 characters long";
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name))
    return "may hold only lower-case letters, digits, dots and hyphens, and must start and end with a letter or digit";
  if (name.includes("..")) return "has two dots in a row";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "looks like an IP address";
  if (name.startsWith("xn--") || name.endsWith("-s3alias") || name.endsWith("--ol-s3"))
    return "uses a prefix or suffix S3 reserves (xn--, -s3alias, --ol-s3)";
  return undefined;
}

/**
 * Why `url` is not an S3 endpoint URL (http:// or https://, a host, an
 * optional port, nothing else), or undefined. Never quotes the URL back when
 * it holds credentials: the message may end up in a log.
 */
export function endpointProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "is not a URL such as https://minio.tlabs.team:9000";
  }
  if (u.username !== "" || u.password !== "")
    return "holds credentials; give only scheme, host and port, and the keys in their own settings";
  if (u.protocol !== "https:" && u.protocol !== "http:") return "must start with https:// (or http://)";
  if (u.hostname === "") return "has no host";
  if ((u.pathname !== "" && u.pathname !== "/") || u.search !== "" || u.hash !== "")
    return "must have no path: give only scheme, host and optional port, as in https://minio.tlabs.team:9000";
  return undefined;
}

/** The endpoint as scheme://host[:port], without a trailing slash. Pure; call after endpointProblem. */
export function normalizeEndpoint(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/** Why `region` is not a region name such as us-east-1, or undefined. Pure. */
export function regionProblem(region: string): string | undefined {
  return /^[a-z0-9][a-z0-9-]{0,62}$/.test(region)
    ? undefined
    : "is not a region name such as us-east-1 (lower-case letters, digits and hyphens)";
}

interface StorageCommon {
  /** The S3 API, scheme://host[:port]; the backup client on the mail host must reach it. */
  readonly endpoint: string;
  /** The bucket the backups go to. */
  readonly bucket: string;
  /** Region requests are signed for. Default DEFAULT_S3_REGION. */
  readonly region?: string;
}

/** minio mode: the stack makes the bucket, policy, user and access key on a MinIO server. */
export interface MinioStorageArgs extends StorageCommon {
  readonly mode: "minio";
  /** The MinIO admin's access key, for the provider only (made secret here). */
  readonly rootUser: pulumi.Input<string>;
  /** The MinIO admin's secret key, for the provider only (made secret here). */
  readonly rootPassword: pulumi.Input<string>;
  /** Days a noncurrent version is kept. Default DEFAULT_VERSION_RETENTION_DAYS. */
  readonly versionRetentionDays?: number;
}

/** external mode: an existing bucket and a key someone else made; nothing is created. */
export interface ExternalStorageArgs extends StorageCommon {
  readonly mode: "external";
  /** The key's id (made secret here). */
  readonly accessKeyId: pulumi.Input<string>;
  /** The key's secret (made secret here). */
  readonly secretAccessKey: pulumi.Input<string>;
}

export type MailStorageArgs = MinioStorageArgs | ExternalStorageArgs;

/** What a backup client needs. The key is secret, both halves of it. */
export interface BackupTarget {
  readonly endpoint: pulumi.Output<string>;
  readonly bucket: pulumi.Output<string>;
  readonly region: pulumi.Output<string>;
  /** Secret. */
  readonly accessKeyId: pulumi.Output<string>;
  /** Secret. */
  readonly secretAccessKey: pulumi.Output<string>;
}

/** Where backups go and, in minio mode, what the stack manages there. No secret. */
export interface StorageAudit {
  readonly mode: "minio" | "external";
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** minio mode only. */
  readonly managed?: {
    readonly policy: string;
    /** The policy document, exactly as the server was given it. */
    readonly policyDocument: string;
    readonly user: string;
    readonly versioning: "Enabled";
    readonly noncurrentVersionRetentionDays: number;
  };
}

/**
 * Every problem of `args`, each naming the config key that sets the value.
 * Empty when the storage can be made. Pure.
 */
export function storageProblems(args: MailStorageArgs): string[] {
  const keys =
    args.mode === "minio"
      ? { endpoint: "minioEndpoint", bucket: "minioBucket" }
      : { endpoint: "s3Endpoint", bucket: "s3Bucket" };
  const problems: string[] = [];
  const endpointWhy = endpointProblem(args.endpoint);
  if (endpointWhy !== undefined)
    problems.push(`storage: the endpoint ${endpointWhy} (mailstack:${keys.endpoint})`);
  const bucketWhy = bucketNameProblem(args.bucket);
  if (bucketWhy !== undefined)
    problems.push(`storage: bucket "${args.bucket}" ${bucketWhy} (mailstack:${keys.bucket})`);
  const regionWhy = regionProblem(args.region ?? DEFAULT_S3_REGION);
  if (regionWhy !== undefined)
    problems.push(`storage: region "${args.region}" ${regionWhy} (mailstack:s3Region)`);
  if (args.mode === "minio") {
    const days = args.versionRetentionDays ?? DEFAULT_VERSION_RETENTION_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > MAX_VERSION_RETENTION_DAYS) {
      problems.push(
        `storage: version retention ${days} is not a whole number of days from 1 to ${MAX_VERSION_RETENTION_DAYS} (mailstack:backupVersionRetentionDays)`,
      );
    }
  }
  return problems;
}

export class MailStorage extends pulumi.ComponentResource {
  /** What the backup client needs; the key is secret. */
  readonly target: BackupTarget;
  /** Non-secret facts for the stack's audit outputs. */
  readonly audit: StorageAudit;

  constructor(name: string, args: MailStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:storage:MailStorage", name, {}, opts);
    const region = args.region ?? DEFAULT_S3_REGION;
    const problems = storageProblems(args);
    if (problems.length > 0) throw new pulumi.ResourceError(problems.join("; "), this);
    const endpoint = normalizeEndpoint(args.endpoint);
    const common = { mode: args.mode, endpoint, bucket: args.bucket, region };

    if (args.mode === "external") {
      this.target = {
        endpoint: pulumi.output(endpoint),
        bucket: pulumi.output(args.bucket),
        region: pulumi.output(region),
        accessKeyId: pulumi.secret(args.accessKeyId),
        secretAccessKey: pulumi.secret(args.secretAccessKey),
      };
      this.audit = common;
    } else {
      const days = args.versionRetentionDays ?? DEFAULT_VERSION_RETENTION_DAYS;
      const url = new URL(endpoint);
      const provider = new minio.Provider(
        `${name}-minio`,
        {
          minioServer: url.host,
          minioSsl: url.protocol === "https:",
          minioRegion: region,
          minioUser: pulumi.secret(args.rootUser),
          minioPassword: pulumi.secret(args.rootPassword),
        },
        { parent: this },
      );
      // Every resource here is kept when the stack is destroyed, or stops
      // using MinIO: the host's backups (and obox mail) go on with the same
      // bucket and key (src/core/lifetime.ts).
      const child = { parent: this, ...keptOnDestroy(provider) };

      // Without forceDestroy the server refuses to delete a bucket that still
      // holds objects or versions: nothing the stack does deletes backups.
      const bucket = new minio.S3Bucket(
        `${name}-bucket`,
        { bucket: args.bucket, acl: "private", forceDestroy: false },
        child,
      );
      // Versioning turns the key's deletes and overwrites into noncurrent
      // versions; the lifecycle rule is what finally removes them.
      const versioning = new minio.S3BucketVersioning(
        `${name}-versioning`,
        { bucket: bucket.bucket, versioningConfiguration: { status: "Enabled" } },
        child,
      );
      // Noncurrent-version expiry needs versioning on: the bucket input comes
      // from the versioning resource so the rule is made after it.
      new minio.IlmPolicy(
        `${name}-lifecycle`,
        { bucket: versioning.bucket, rules: backupLifecycleRules(days) },
        child,
      );

      const document = backupPolicy(args.bucket);
      const policy = new minio.IamPolicy(
        `${name}-policy`,
        { name: MAIL_SERVER_POLICY, policy: document },
        child,
      );
      // forceDestroy: should the stack ever delete the user, that must also
      // revoke keys made outside the stack (by hand, or by whoever held this
      // user's credentials). A destroy keeps the user (child's options).
      const user = new minio.IamUser(`${name}-user`, { name: MAIL_SERVER_USER, forceDestroy: true }, child);
      const attachment = new minio.IamUserPolicyAttachment(
        `${name}-policy-attachment`,
        { userName: user.name, policyName: policy.name },
        child,
      );
      // The key backups use: an access key of the user, with no policy of its
      // own, so it has exactly the user's rights (the policy's denies
      // included). Made after the attachment, so it works from the moment it
      // exists. The user's own secret stays in the encrypted state and is
      // never handed out.
      const key = new minio.IamServiceAccount(
        `${name}-access-key`,
        { targetUser: user.name },
        { ...child, dependsOn: [attachment] },
      );

      this.target = {
        endpoint: pulumi.output(endpoint),
        bucket: bucket.bucket,
        region: pulumi.output(region),
        accessKeyId: pulumi.secret(key.accessKey),
        secretAccessKey: pulumi.secret(key.secretKey),
      };
      this.audit = {
        ...common,
        managed: {
          policy: MAIL_SERVER_POLICY,
          policyDocument: document,
          user: MAIL_SERVER_USER,
          versioning: "Enabled",
          noncurrentVersionRetentionDays: days,
        },
      };
    }
    this.registerOutputs({ target: this.target, audit: this.audit });
  }
}
