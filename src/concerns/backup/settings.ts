// Backups and the storage they go to: a MinIO bucket the stack manages, an
// existing S3 bucket, or none; the schedule, retention and restic password.
import * as pulumi from "@pulumi/pulumi";
import { configKey, type KeySpecs, parseSettings, type Reader } from "../../core/settings";
import {
  bucketNameProblem,
  DEFAULT_S3_REGION,
  DEFAULT_VERSION_RETENTION_DAYS,
  defaultBucketName,
  endpointProblem,
  MAX_VERSION_RETENTION_DAYS,
  type MailStorageArgs,
  normalizeEndpoint,
  regionProblem,
} from "./storage";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  storageMode: {
    type: "string",
    default: "minio",
    description:
      "Where backups go: minio (default; the stack makes the bucket, its policy, a user and an access key on a MinIO server with @pulumi/minio), external (an existing S3 bucket and key: set s3Endpoint, s3Bucket, s3AccessKeyId and s3SecretAccessKey) or none (no backup storage). Settings of the other modes are refused.",
    example: "external",
  },
  minioEndpoint: {
    type: "string",
    default: "",
    description:
      "URL of the MinIO server's S3 API, such as https://minio.tlabs.team:9000; both the machine running Pulumi and the mail host must reach it. Required with storageMode minio.",
    example: "https://minio.tlabs.team:9000",
  },
  minioBucket: {
    type: "string",
    default: "",
    description:
      "Name of the backup bucket the stack makes on the MinIO server. Default mail-<the first domain as listed in mailstack:domains, dots as dashes>, such as mail-tlabs-team.",
    example: "mail-tlabs-team",
  },
  minioRootUser: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Access key of a MinIO admin, used only by the stack to manage the bucket, policy, user and access key. Secret. Required with storageMode minio.",
    example: "--secret mailstack:minioRootUser",
  },
  minioRootPassword: {
    type: "string",
    default: "",
    secret: true,
    description: "Secret key of minioRootUser. Secret. Required with storageMode minio.",
    example: "--secret mailstack:minioRootPassword",
  },
  backupVersionRetentionDays: {
    type: "integer",
    default: 30,
    description:
      "Days an overwritten or deleted backup object stays recoverable in the versioned MinIO bucket before its lifecycle rule removes it (1 to 3650). Default 30. For storageMode minio.",
    example: "30",
  },
  s3Endpoint: {
    type: "string",
    default: "",
    description:
      "URL of the S3 API of an existing bucket, such as https://s3.eu-central-1.amazonaws.com; the mail host must reach it. Required with storageMode external.",
    example: "https://s3.eu-central-1.amazonaws.com",
  },
  s3Bucket: {
    type: "string",
    default: "",
    description:
      "Name of the existing bucket backups go to; the stack does not make or change it. Required with storageMode external.",
    example: "mail-tlabs-team",
  },
  s3Region: {
    type: "string",
    default: "us-east-1",
    description:
      "Region the backup bucket's requests are signed for (for MinIO, its site region). Default us-east-1. For storageMode minio or external.",
    example: "eu-central-1",
  },
  s3AccessKeyId: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Access key id of the key backups use on the existing bucket; give it only the rights on that bucket that backups need (README). Secret. Required with storageMode external.",
    example: "--secret mailstack:s3AccessKeyId",
  },
  s3SecretAccessKey: {
    type: "string",
    default: "",
    secret: true,
    description: "Secret access key of s3AccessKeyId. Secret. Required with storageMode external.",
    example: "--secret mailstack:s3SecretAccessKey",
  },

  backup: {
    type: "object",
    default: {},
    description:
      'Backups with restic into the storage bucket, each optional: {"schedule": "03:15", "keepLast": 3, "keepDaily": 7, "keepWeekly": 4, "keepMonthly": 6, "maxAgeHours": 26, "database": true} (the defaults). schedule is a daily time on the host, or "off"; maxAgeHours is when monitoring calls the last success too old; database false skips the dump (a database on another server).',
    example: "--path 'backup.schedule' 02:30",
  },
  backupPassword: {
    type: "string",
    default: "",
    secret: true,
    description:
      "Password of the encrypted restic repository. Secret; keep a copy outside this stack: without it no backup can be read.",
    example: "--secret mailstack:backupPassword",
  },
} as const satisfies KeySpecs;

type BackupKey = keyof typeof KEYS;

/** The schedule and retention (mailstack:backup). */
export interface BackupSettings {
  /** Daily at "HH:MM" (the host's time zone), or "off". */
  readonly schedule: string;
  /** The newest snapshots kept whatever their day (a same-day manual backup does not replace the scheduled one). */
  readonly keepLast: number;
  readonly keepDaily: number;
  readonly keepWeekly: number;
  readonly keepMonthly: number;
  /** Hours after which `mailstack-backup status` reports the last success as too old. */
  readonly maxAgeHours: number;
  /** Dump the mail database; false when it runs on another server (mailstack:dbHost). */
  readonly database: boolean;
}

export const DEFAULT_BACKUP: BackupSettings = {
  schedule: "03:15",
  keepLast: 3,
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 6,
  maxAgeHours: 26,
  database: true,
};

/** Backups of the mail host. */
export interface BackupConfig {
  readonly settings: BackupSettings;
  /** The restic repository's password; unset leaves backups off. */
  readonly password?: pulumi.Output<string>;
}

/** The backup storage: a MinIO bucket the stack manages, an existing S3 bucket, or none. */
export type StorageConfig = MailStorageArgs | { readonly mode: "none" };

/** The problems of `s`, each naming the setting; empty when usable. Pure. */
export function backupProblems(s: BackupSettings): string[] {
  const problems: string[] = [];
  if (s.schedule !== "off" && !/^([01]\d|2[0-3]):[0-5]\d$/.test(String(s.schedule))) {
    problems.push(`schedule ${JSON.stringify(s.schedule)} must be a time of day such as "03:15", or "off"`);
  }
  for (const k of ["keepLast", "keepDaily", "keepWeekly", "keepMonthly"] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 0 || s[k] > 1000) {
      problems.push(`${k} ${JSON.stringify(s[k])} must be a whole number from 0 to 1000`);
    }
  }
  if (s.keepLast + s.keepDaily + s.keepWeekly + s.keepMonthly === 0) {
    problems.push(
      "keepLast, keepDaily, keepWeekly and keepMonthly are all 0, which would delete every snapshot",
    );
  }
  if (!Number.isInteger(s.maxAgeHours) || s.maxAgeHours < 1) {
    problems.push(`maxAgeHours ${JSON.stringify(s.maxAgeHours)} must be a whole number of hours, at least 1`);
  }
  if (typeof s.database !== "boolean")
    problems.push(`database ${JSON.stringify(s.database)} must be true or false`);
  return problems;
}

/**
 * mailstack:backup and mailstack:backupPassword, read against the storage
 * (backups into a bucket need the password) and the database (a dump needs
 * the database on the mail host: `dbHost` is mailstack:dbHost, "" when unset).
 */
export function parseBackup(r: Reader<BackupKey>, storage: StorageConfig, dbHost: string): BackupConfig {
  const settings = parseSettings(
    r.get("backup"),
    DEFAULT_BACKUP,
    backupProblems,
    (why) => r.bad("backup", why),
    [],
    '{"schedule": "03:15", "keepDaily": 7}',
  );
  const password = r.str("backupPassword", "", (v) =>
    v.length >= 16 ? undefined : "is shorter than 16 characters; the backups are only as safe as it",
  );
  if (storage.mode !== "none" && password === "" && !r.given("backupPassword")) {
    r.bad(
      "backupPassword",
      `is required: backups into the ${storage.mode === "minio" ? "MinIO" : "S3"} bucket are encrypted with it`,
      `${r.fix("backupPassword")} (a long random one, kept outside this stack too), or pulumi config set mailstack:storageMode none for no backups`,
    );
  }
  if (settings.database && dbHost !== "") {
    r.bad(
      "backup",
      `dumps the database on the mail host, but it runs on ${dbHost} (mailstack:dbHost)`,
      "back it up at the database server and pulumi config set --path 'backup.database' false",
    );
  }
  return { settings, ...(password !== "" ? { password: pulumi.secret(password) } : {}) };
}

type StorageMode = StorageConfig["mode"];

/** The storage modes, and the settings each one reads (s3Region serves both with a bucket). */
const STORAGE_KEYS: Readonly<Record<StorageMode, readonly BackupKey[]>> = {
  minio: [
    "minioEndpoint",
    "minioBucket",
    "minioRootUser",
    "minioRootPassword",
    "backupVersionRetentionDays",
    "s3Region",
  ],
  external: ["s3Endpoint", "s3Bucket", "s3Region", "s3AccessKeyId", "s3SecretAccessKey"],
  none: [],
};
const STORAGE_MODES = Object.keys(STORAGE_KEYS) as StorageMode[];

/** Why a credential cannot be one (MinIO's minimums: 3 for an access key, 8 for a secret), or undefined. */
function credentialProblem(min: number): (v: string) => string | undefined {
  return (v) =>
    v.length < min
      ? `is shorter than ${min} characters`
      : /[\s\p{Cc}]/u.test(v)
        ? "has whitespace or control characters"
        : undefined;
}

/**
 * mailstack:storageMode and the settings of that mode. A setting of another
 * mode is refused: a stale admin key or an unused bucket name in config
 * would mislead whoever reads it. `firstDomain`, the first of mailstack:domains
 * as listed, names the default MinIO bucket.
 */
export function parseStorage(c: Reader<BackupKey>, firstDomain: string | undefined): StorageConfig {
  const chosen = c.get("storageMode") ?? "minio";
  const mode = STORAGE_MODES.find((m) => m === chosen);
  if (mode === undefined) {
    c.bad("storageMode", `value "${chosen}" is not minio, external or none`);
    return { mode: "none" };
  }
  const used = STORAGE_KEYS[mode];
  const stray = new Set(STORAGE_MODES.flatMap((m) => STORAGE_KEYS[m]).filter((k) => !used.includes(k)));
  for (const k of stray) {
    if (!c.isSet(k)) continue;
    const owners = STORAGE_MODES.filter((m) => STORAGE_KEYS[m].includes(k));
    c.bad(
      k,
      `is a setting of storageMode ${owners.join(" or ")}, but storageMode is ${mode}`,
      `pulumi config rm ${configKey(k)}`,
    );
  }

  const required = (k: BackupKey, value: string) => {
    // A secret stored in plain text is reported once, as that.
    if (value === "" && !c.given(k)) {
      c.bad(
        k,
        `is required with storageMode ${mode}${mode === "minio" ? " (the default)" : ""} but not set`,
        `${c.fix(k)}, or choose another mode: ${c.fix("storageMode")}`,
      );
    }
    return value;
  };
  const region = c.str("s3Region", DEFAULT_S3_REGION, regionProblem);
  const endpointOf = (k: BackupKey) => {
    const v = c.get(k);
    const why = v === undefined ? undefined : endpointProblem(v);
    if (v === undefined || why === undefined) return required(k, v === undefined ? "" : normalizeEndpoint(v));
    // An endpoint never needs an @: one means credentials, which never go into a message.
    c.bad(k, `value ${v.includes("@") ? "(not shown)" : `"${v}"`} ${why}`);
    return "";
  };

  if (mode === "external") {
    return {
      mode,
      endpoint: endpointOf("s3Endpoint"),
      bucket: required("s3Bucket", c.str("s3Bucket", "", bucketNameProblem)),
      region,
      accessKeyId: pulumi.secret(required("s3AccessKeyId", c.str("s3AccessKeyId", "", credentialProblem(3)))),
      secretAccessKey: pulumi.secret(
        required("s3SecretAccessKey", c.str("s3SecretAccessKey", "", credentialProblem(8))),
      ),
    };
  }
  if (mode === "none") return { mode };

  // The first domain as listed, not the first by name: a stack that lists
  // b.test before a.test has had its bucket named mail-b-test all along, and a
  // renamed default would be a new, empty bucket (README, "Order in the config").
  let bucket = c.str("minioBucket", "", bucketNameProblem);
  if (bucket === "" && !c.isSet("minioBucket") && firstDomain !== undefined) {
    bucket = defaultBucketName(firstDomain);
    const why = bucketNameProblem(bucket);
    if (why !== undefined) {
      c.bad("minioBucket", `is not set, and the default "${bucket}" (from ${firstDomain}) ${why}`);
    }
  }
  return {
    mode: "minio",
    endpoint: endpointOf("minioEndpoint"),
    bucket,
    region,
    rootUser: pulumi.secret(required("minioRootUser", c.str("minioRootUser", "", credentialProblem(3)))),
    rootPassword: pulumi.secret(
      required("minioRootPassword", c.str("minioRootPassword", "", credentialProblem(8))),
    ),
    versionRetentionDays: c.int(
      "backupVersionRetentionDays",
      DEFAULT_VERSION_RETENTION_DAYS,
      1,
      MAX_VERSION_RETENTION_DAYS,
      "a number of days",
    ),
  };
}
