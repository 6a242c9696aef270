// The backup storage: the policy document as pure data (canonical, least
// privilege), the config checks, and the MinIO resources under mocks (names,
// types, parents, provider, versioning, lifecycle, the policy as given, the
// secrets kept secret). test/concerns/backup/minio-policy.test.ts applies the same document
// to a real MinIO server and checks what the key can and cannot do.
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BACKUP_BUCKET_ACTIONS,
  BACKUP_DENIED_ADMIN_ACTIONS,
  BACKUP_DENIED_OBJECT_ACTIONS,
  BACKUP_OBJECT_ACTIONS,
  backupLifecycleRules,
  backupPolicy,
  bucketNameProblem,
  canonicalPolicy,
  defaultBucketName,
  endpointProblem,
  type MailStorageArgs,
  type MinioStorageArgs,
  storageProblems,
} from "../../../src/concerns/backup/storage";
import { flush, parents, recordParents, resources, settle, setup } from "../../helpers/mocks";

// Pulumi's wire marker for a secret value.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

const POLICY =
  '{"Version":"2012-10-17","Statement":[' +
  '{"Sid":"BackupBucket","Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListBucket"],"Resource":["arn:aws:s3:::mail-tlabs-team"]},' +
  '{"Sid":"BackupObjects","Effect":"Allow","Action":["s3:AbortMultipartUpload","s3:DeleteObject","s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::mail-tlabs-team/*"]},' +
  '{"Sid":"KeepVersions","Effect":"Deny","Action":["s3:DeleteObjectVersion"],"Resource":["arn:aws:s3:::mail-tlabs-team/*"]},' +
  '{"Sid":"NoNewKeys","Effect":"Deny","Action":["admin:CreateServiceAccount"]}]}';

describe("the backup policy", () => {
  it("is exactly the backup actions on the bucket and its objects, and two denies, in canonical text", () => {
    expect(backupPolicy("mail-tlabs-team")).toBe(POLICY);
  });

  it("is byte-identical on every call, and the same however its parts are ordered or written", () => {
    expect(backupPolicy("mail-tlabs-team")).toBe(backupPolicy("mail-tlabs-team"));
    const shuffled = canonicalPolicy({
      Version: "2012-10-17",
      Statement: [
        { Action: "admin:CreateServiceAccount", Sid: "NoNewKeys", Effect: "Deny" },
        {
          Sid: "KeepVersions",
          Effect: "Deny",
          Action: "s3:DeleteObjectVersion",
          Resource: "arn:aws:s3:::mail-tlabs-team/*",
        },
        {
          Resource: "arn:aws:s3:::mail-tlabs-team/*",
          Action: [
            "s3:PutObject",
            "s3:GetObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
            "s3:GetObject",
          ],
          Effect: "Allow",
          Sid: "BackupObjects",
        },
        {
          Sid: "BackupBucket",
          Effect: "Allow",
          Action: ["s3:ListBucket", "s3:GetBucketLocation"],
          Resource: ["arn:aws:s3:::mail-tlabs-team"],
        },
      ],
    });
    expect(shuffled).toBe(POLICY);
    expect(backupPolicy("mail-other")).not.toBe(POLICY);
  });

  it("allows nothing beyond the one bucket: no wildcard, no admin action, no bucket or version delete", () => {
    const doc = JSON.parse(backupPolicy("mail-tlabs-team")) as {
      Statement: { Effect: string; Action: string[]; Resource?: string[] }[];
    };
    const allow = doc.Statement.filter((s) => s.Effect === "Allow");
    const allowed = allow.flatMap((s) => s.Action);
    expect(allowed.sort()).toEqual([...BACKUP_BUCKET_ACTIONS, ...BACKUP_OBJECT_ACTIONS].sort());
    for (const a of allowed) expect(a).toMatch(/^s3:[A-Za-z]+$/);
    for (const forbidden of ["s3:DeleteBucket", "s3:DeleteObjectVersion", "s3:PutBucketVersioning"])
      expect(allowed).not.toContain(forbidden);
    expect(allow.flatMap((s) => s.Resource ?? ["(all)"]).sort()).toEqual([
      "arn:aws:s3:::mail-tlabs-team",
      "arn:aws:s3:::mail-tlabs-team/*",
    ]);
    // Everything else is a Deny, of exactly what MinIO would otherwise let the key do.
    const denied = doc.Statement.filter((s) => s.Effect !== "Allow");
    expect(denied.every((s) => s.Effect === "Deny")).toBe(true);
    expect(denied.flatMap((s) => s.Action).sort()).toEqual(
      [...BACKUP_DENIED_ADMIN_ACTIONS, ...BACKUP_DENIED_OBJECT_ACTIONS].sort(),
    );
  });

  it("expires noncurrent versions after the given days, and nothing else", () => {
    expect(backupLifecycleRules(14)).toEqual([
      { id: "expire-noncurrent-versions", status: "Enabled", noncurrentVersionExpirationDays: 14 },
    ]);
  });
});

describe("storage checks", () => {
  it("name the bucket after the first domain", () => {
    expect(defaultBucketName("tlabs.team")).toBe("mail-tlabs-team");
    expect(bucketNameProblem("mail-tlabs-team")).toBeUndefined();
  });

  it("refuse bucket names S3 refuses", () => {
    for (const bad of ["ab", "Mail", "mail_x", "-mail", "mail..x", "192.168.0.1", "xn--mail", "a".repeat(64)])
      expect(bucketNameProblem(bad), bad).toBeDefined();
  });

  it("take an endpoint of scheme, host and port only", () => {
    expect(endpointProblem("https://minio.tlabs.team:9000")).toBeUndefined();
    expect(endpointProblem("http://127.0.0.1:9000/")).toBeUndefined();
    for (const bad of [
      "minio:9000",
      "ftp://minio",
      "https://minio/bucket",
      "https://minio?x=1",
      "https://a:b@minio",
    ])
      expect(endpointProblem(bad), bad).toBeDefined();
  });

  it("name the config key of each bad argument", () => {
    const args: MailStorageArgs = {
      mode: "minio",
      endpoint: "minio:9000",
      bucket: "Bad_Bucket",
      region: "US",
      rootUser: "root",
      rootPassword: "root-password",
      versionRetentionDays: 0,
    };
    expect(storageProblems(args).map((p) => /\(mailstack:(\w+)\)$/.exec(p)?.[1])).toEqual([
      "minioEndpoint",
      "minioBucket",
      "s3Region",
      "backupVersionRetentionDays",
    ]);
    expect(
      storageProblems({ ...args, mode: "external", accessKeyId: "k", secretAccessKey: "s" }).map(
        (p) => /\(mailstack:(\w+)\)$/.exec(p)?.[1],
      ),
    ).toEqual(["s3Endpoint", "s3Bucket", "s3Region"]);
  });
});

describe("MailStorage under mocks", () => {
  setup();
  let pulumi: typeof pulumiType;
  let storage: typeof import("../../../src/concerns/backup/storage");
  /** The provider each resource was given, by resource name. */
  const providers = new Map<string, string | undefined>();
  const dependsOn = new Map<string, string[]>();
  const record: pulumiType.ResourceTransformation = (args) => {
    const opts = args.opts as pulumiType.CustomResourceOptions;
    providers.set(args.name, (opts.provider as { __name?: string } | undefined)?.__name);
    const deps = opts.dependsOn;
    dependsOn.set(
      args.name,
      (Array.isArray(deps) ? deps : deps ? [deps] : []).map((d) => (d as { __name?: string }).__name ?? ""),
    );
    return recordParents(args);
  };
  let minio: import("../../../src/concerns/backup/storage").MailStorage;
  let external: import("../../../src/concerns/backup/storage").MailStorage;

  beforeAll(async () => {
    pulumi = await import("@pulumi/pulumi");
    storage = await import("../../../src/concerns/backup/storage");
    const minioArgs = (bucket: string): MinioStorageArgs => ({
      mode: "minio",
      endpoint: "https://minio.tlabs.team:9000/",
      bucket,
      rootUser: pulumi.secret("ROOT-USER"),
      rootPassword: "ROOT-PASSWORD-PLAIN",
      versionRetentionDays: 14,
    });
    minio = new storage.MailStorage("backup", minioArgs("mail-tlabs-team"), { transformations: [record] });
    new storage.MailStorage("again", minioArgs("mail-tlabs-team"));
    new storage.MailStorage("plain", {
      ...minioArgs("mail-example-test"),
      endpoint: "http://127.0.0.1:9000",
      versionRetentionDays: undefined,
    });
    external = new storage.MailStorage(
      "ext",
      {
        mode: "external",
        endpoint: "https://s3.eu-central-1.amazonaws.com",
        bucket: "tlabs-mail-backups",
        region: "eu-central-1",
        accessKeyId: "EXTERNAL-KEY-ID",
        secretAccessKey: "EXTERNAL-SECRET",
      },
      { transformations: [record] },
    );
    await settle(minio.target.secretAccessKey);
    await flush();
  });

  const children = [
    ["backup-minio", "pulumi:providers:minio"],
    ["backup-bucket", "minio:index/s3Bucket:S3Bucket"],
    ["backup-versioning", "minio:index/s3BucketVersioning:S3BucketVersioning"],
    ["backup-lifecycle", "minio:index/ilmPolicy:IlmPolicy"],
    ["backup-policy", "minio:index/iamPolicy:IamPolicy"],
    ["backup-user", "minio:index/iamUser:IamUser"],
    ["backup-policy-attachment", "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment"],
    ["backup-access-key", "minio:index/iamServiceAccount:IamServiceAccount"],
  ] as const;

  it("makes the provider, bucket, versioning, lifecycle, policy, user, attachment and key, all children of the component", () => {
    expect(resources.get("backup")?.type).toBe("mailstack:storage:MailStorage");
    for (const [name, type] of children) {
      expect(resources.get(name)?.type, name).toBe(type);
      expect(parents.get(name), name).toBe("backup");
      if (name !== "backup-minio") expect(providers.get(name), name).toBe("backup-minio");
    }
    expect([...resources.keys()].filter((n) => n.startsWith("backup-")).sort()).toEqual(
      children.map(([n]) => n).sort(),
    );
  });

  it("talks to the endpoint's host and port, over TLS for https only, with the admin key as a secret", () => {
    // A provider's settings reach the engine as strings.
    const provider = resources.get("backup-minio")?.inputs ?? {};
    expect(provider).toMatchObject({
      minioServer: "minio.tlabs.team:9000",
      minioSsl: "true",
      minioRegion: "us-east-1",
    });
    // Secret even when the caller passed the password as a plain string.
    for (const k of ["minioUser", "minioPassword"])
      expect((provider[k] as Record<string, unknown>)[SECRET_SIG], k).toBeDefined();
    expect(resources.get("plain-minio")?.inputs).toMatchObject({
      minioServer: "127.0.0.1:9000",
      minioSsl: "false",
    });
    const others = [...resources.values()].filter((r) => r.type !== "pulumi:providers:minio");
    expect(JSON.stringify(others)).not.toMatch(/ROOT-(USER|PASSWORD)/);
  });

  it("a private bucket that is never force-deleted, versioned, with noncurrent versions expiring after the set days", () => {
    expect(resources.get("backup-bucket")?.inputs).toEqual({
      bucket: "mail-tlabs-team",
      acl: "private",
      forceDestroy: false,
    });
    expect(resources.get("backup-versioning")?.inputs).toEqual({
      bucket: "mail-tlabs-team",
      versioningConfiguration: { status: "Enabled" },
    });
    expect(resources.get("backup-lifecycle")?.inputs).toEqual({
      bucket: "mail-tlabs-team",
      rules: [{ id: "expire-noncurrent-versions", status: "Enabled", noncurrentVersionExpirationDays: 14 }],
    });
    expect(resources.get("plain-lifecycle")?.inputs.rules).toEqual(backupLifecycleRules(30));
  });

  it("gives the server exactly backupPolicy's text, the same byte for byte in every component", () => {
    expect(resources.get("backup-policy")?.inputs).toEqual({ name: "mail-server-policy", policy: POLICY });
    expect(resources.get("again-policy")?.inputs.policy).toBe(POLICY);
    expect(resources.get("plain-policy")?.inputs.policy).toBe(backupPolicy("mail-example-test"));
  });

  it("attaches the policy to mailserver-user, and the key is that user's, made after the attachment", () => {
    expect(resources.get("backup-user")?.inputs).toEqual({ name: "mailserver-user", forceDestroy: true });
    expect(resources.get("backup-policy-attachment")?.inputs).toEqual({
      userName: "mailserver-user",
      policyName: "mail-server-policy",
    });
    // No policy of its own: the key has exactly the user's rights.
    expect(resources.get("backup-access-key")?.inputs).toEqual({ targetUser: "mailserver-user" });
    expect(dependsOn.get("backup-access-key")).toEqual(["backup-policy-attachment"]);
  });

  it("hands backups the endpoint, bucket, region and the key, the key secret", async () => {
    const t = minio.target;
    expect(await settle(t.endpoint)).toEqual({ value: "https://minio.tlabs.team:9000", secret: false });
    expect(await settle(t.bucket)).toEqual({ value: "mail-tlabs-team", secret: false });
    expect(await settle(t.region)).toEqual({ value: "us-east-1", secret: false });
    expect(await settle(t.accessKeyId)).toEqual({ value: "MOCKACCESSKEY", secret: true });
    expect(await settle(t.secretAccessKey)).toEqual({ value: "mock-secret-key", secret: true });
  });

  it("audit output says what is managed, and holds no secret", () => {
    expect(minio.audit).toEqual({
      mode: "minio",
      endpoint: "https://minio.tlabs.team:9000",
      bucket: "mail-tlabs-team",
      region: "us-east-1",
      managed: {
        policy: "mail-server-policy",
        policyDocument: POLICY,
        user: "mailserver-user",
        versioning: "Enabled",
        noncurrentVersionRetentionDays: 14,
      },
    });
    expect(JSON.stringify([minio.audit, external.audit])).not.toMatch(/ROOT-|MOCK|mock-|EXTERNAL-/);
  });

  it("external mode makes nothing and passes the bucket and key through, the key secret", async () => {
    expect([...resources.keys()].filter((n) => n.startsWith("ext-"))).toEqual([]);
    expect(external.audit).toEqual({
      mode: "external",
      endpoint: "https://s3.eu-central-1.amazonaws.com",
      bucket: "tlabs-mail-backups",
      region: "eu-central-1",
    });
    const t = external.target;
    expect(await settle(t.bucket)).toEqual({ value: "tlabs-mail-backups", secret: false });
    expect(await settle(t.accessKeyId)).toEqual({ value: "EXTERNAL-KEY-ID", secret: true });
    expect(await settle(t.secretAccessKey)).toEqual({ value: "EXTERNAL-SECRET", secret: true });
  });

  it("refuses bad arguments before making anything, naming the config key", () => {
    expect(
      () =>
        new storage.MailStorage("bad", {
          mode: "minio",
          endpoint: "https://minio.tlabs.team",
          bucket: "Bad_Bucket",
          rootUser: "root",
          rootPassword: "root-password",
        }),
    ).toThrow(/mailstack:minioBucket/);
    expect([...resources.keys()].filter((n) => n.startsWith("bad-"))).toEqual([]);
  });
});
