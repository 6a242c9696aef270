// The backup policy's contract, against a real MinIO server and mc built from
// their Go modules (scripts/toolchain.sh servers; missing binaries fail this
// file, saying how to build them). As the stack would, the admin makes the
// bucket (versioned, with the lifecycle rule and the retention the stack
// sets), applies exactly backupPolicy()'s text as mail-server-policy, makes
// mailserver-user, attaches the policy and makes an access key of the user.
// Then, as that key (what backups hold): it can read and write objects in the
// bucket, and nothing else: no other bucket, no bucket delete, no version
// delete, no policy, user or key changes. A control run without the policy's
// two denies shows what MinIO would otherwise allow.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  backupLifecycleRules,
  backupPolicy,
  canonicalPolicy,
  DEFAULT_VERSION_RETENTION_DAYS,
  defaultBucketName,
  MAIL_SERVER_POLICY,
  MAIL_SERVER_USER,
  type PolicyDocument,
} from "../../../src/concerns/backup/storage";
import {
  type Credentials,
  type McResult,
  randomCredentials,
  s3Request,
  startMinio,
  type TestMinio,
} from "../../helpers/minio";

const BUCKET = defaultBucketName("tlabs.team");
const OTHER = "mail-other-team";
const DAYS = backupLifecycleRules(DEFAULT_VERSION_RETENTION_DAYS)[0]?.noncurrentVersionExpirationDays ?? 0;
const STEP = 60_000;

let minio: TestMinio;
let key: Credentials;

/**
 * mc failed because the server said Access Denied, not for any other reason
 * (mc words a denied read as "Insufficient permissions").
 */
function expectDenied(r: McResult): void {
  expect(r.code, r.out).not.toBe(0);
  expect(r.out).toMatch(/Access Denied|AccessDenied|Insufficient permissions to access/);
}

/** Every version of `object` in the backup bucket, newest first, as the admin sees them. */
function versions(object: string): { versionId: string; deleteMarker: boolean }[] {
  return minio
    .mcOk(["ls", "--versions", `root/${BUCKET}/${object}`])
    .map((l) => ({ versionId: String(l.versionId), deleteMarker: l.isDeleteMarker === true }));
}

/**
 * What the stack's IamPolicy, IamUser, IamUserPolicyAttachment and
 * IamServiceAccount make, in that order, as the admin: `policy` (this exact
 * text), a user with it attached, and an access key of that user.
 */
function provision(user: string, policyName: string, policy: string): Credentials {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-policy-")), "p.json");
  fs.writeFileSync(file, policy);
  minio.mcOk(["admin", "policy", "create", "root", policyName, file]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  // The user's own secret goes in on stdin, never on the command line.
  minio.mcOk(["admin", "user", "add", "root", user], `${user}\n${randomCredentials().secretKey}\n`);
  minio.mcOk(["admin", "policy", "attach", "root", policyName, "--user", user]);
  // The admin can still make the user a key: the policy's NoNewKeys binds the user alone.
  const [made] = minio.mcOk(["admin", "user", "svcacct", "add", "root", user]);
  return { accessKey: String(made?.accessKey), secretKey: String(made?.secretKey) };
}

beforeAll(async () => {
  minio = await startMinio();
  for (const b of [BUCKET, OTHER]) minio.mcOk(["mb", `root/${b}`]);
  // The bucket as the stack leaves it: versioned, noncurrent versions expiring.
  minio.mcOk(["version", "enable", `root/${BUCKET}`]);
  minio.mcOk(["ilm", "rule", "add", "--noncurrent-expire-days", String(DAYS), `root/${BUCKET}`]);
  key = provision(MAIL_SERVER_USER, MAIL_SERVER_POLICY, backupPolicy(BUCKET));
  minio.alias("key", key);
  minio.mcOk(["pipe", `root/${OTHER}/secret.txt`], "another team's file\n");
}, STEP);

afterAll(async () => {
  await minio?.stop();
}, STEP);

describe("the stack's bucket and policy on a real MinIO", () => {
  it("the server holds the policy as given: in canonical form it is backupPolicy's text, byte for byte", () => {
    const [info] = minio.mcOk(["admin", "policy", "info", "root", MAIL_SERVER_POLICY]);
    const stored = (info?.policyInfo as { Policy?: PolicyDocument } | undefined)?.Policy;
    expect(stored).toBeDefined();
    // Nothing the canonical form would drop: only the fields the stack writes.
    expect(Object.keys(stored ?? {}).sort()).toEqual(["Statement", "Version"]);
    for (const s of stored?.Statement ?? [])
      for (const k of Object.keys(s)) expect(["Sid", "Effect", "Action", "Resource"]).toContain(k);
    expect(canonicalPolicy(stored as PolicyDocument)).toBe(backupPolicy(BUCKET));
  });

  it("the bucket is versioned, and noncurrent versions expire after the stack's retention", () => {
    const [v] = minio.mcOk(["version", "info", `root/${BUCKET}`]);
    expect((v?.versioning as { status?: string } | undefined)?.status).toBe("Enabled");
    const [ilm] = minio.mcOk(["ilm", "rule", "ls", `root/${BUCKET}`]);
    const rules = (ilm?.config as { Rules?: Record<string, unknown>[] } | undefined)?.Rules ?? [];
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({
      Status: "Enabled",
      NoncurrentVersionExpiration: { NoncurrentDays: DAYS },
    });
  });
});

describe("what the backup key can do", () => {
  it(
    "puts, lists, reads, stats and deletes objects in the bucket",
    () => {
      const obj = `key/${BUCKET}/restic/data/ab/abcdef`;
      minio.mcOk(["pipe", obj], "pack contents\n");
      const listed = minio.mcOk(["ls", "--recursive", `key/${BUCKET}`]).map((l) => l.key);
      expect(listed).toContain("restic/data/ab/abcdef");
      expect(minio.mc(["cat", obj]).out).toBe("pack contents\n");
      expect(minio.mcOk(["stat", obj])[0]?.size).toBe(14);
      minio.mcOk(["rm", obj]);
      expect(minio.mcOk(["ls", "--recursive", `key/${BUCKET}`]).map((l) => l.key)).not.toContain(
        "restic/data/ab/abcdef",
      );
    },
    STEP,
  );

  it(
    "finds the bucket's region and aborts its own multipart upload, but lists no one's uploads",
    async () => {
      const location = await s3Request(minio.endpoint, key, "GET", `/${BUCKET}`, { location: "" });
      expect(location.status, location.body).toBe(200);
      const start = await s3Request(minio.endpoint, key, "POST", `/${BUCKET}/restic/data/cd/big`, {
        uploads: "",
      });
      expect(start.status, start.body).toBe(200);
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(start.body)?.[1] ?? "";
      expect(uploadId).not.toBe("");
      const listing = await s3Request(minio.endpoint, key, "GET", `/${BUCKET}`, { uploads: "" });
      expect(listing.status, listing.body).toBe(403);
      const abort = await s3Request(minio.endpoint, key, "DELETE", `/${BUCKET}/restic/data/cd/big`, {
        uploadId,
      });
      expect(abort.status, abort.body).toBe(204);
    },
    STEP,
  );
});

describe("what the backup key cannot do", () => {
  it(
    "touch another bucket, see one, or make one",
    async () => {
      expectDenied(minio.mc(["ls", `key/${OTHER}`]));
      expectDenied(minio.mc(["cat", `key/${OTHER}/secret.txt`]));
      expectDenied(minio.mc(["pipe", `key/${OTHER}/planted.txt`], "x\n"));
      expectDenied(minio.mc(["rm", `key/${OTHER}/secret.txt`]));
      // MinIO answers a key without s3:ListAllMyBuckets with the buckets it may use.
      expect(minio.mcOk(["ls", "key"]).map((l) => l.key)).toEqual([`${BUCKET}/`]);
      expectDenied(minio.mc(["mb", "key/mail-exfiltration"]));
      expect((await s3Request(minio.endpoint, key, "GET", `/${OTHER}`, { location: "" })).status).toBe(403);
      // The other team's file is untouched.
      expect(minio.mc(["cat", `root/${OTHER}/secret.txt`]).out).toBe("another team's file\n");
    },
    STEP,
  );

  it(
    "erase history: its deletes leave the versions, and deleting a version is refused",
    async () => {
      const obj = `${BUCKET}/restic/index/0001`;
      minio.mcOk(["pipe", `key/${obj}`], "first\n");
      minio.mcOk(["pipe", `key/${obj}`], "second\n");
      minio.mcOk(["rm", `key/${obj}`]);
      const kept = versions("restic/index/0001");
      expect(kept.map((v) => v.deleteMarker)).toEqual([true, false, false]);
      const oldest = kept[2]?.versionId ?? "";
      expectDenied(minio.mc(["rm", "--version-id", oldest, `key/${obj}`]));
      const raw = await s3Request(minio.endpoint, key, "DELETE", `/${obj}`, { versionId: oldest });
      expect(raw.status, raw.body).toBe(403);
      expect(versions("restic/index/0001")).toEqual(kept);
      expect(minio.mc(["cat", "--version-id", oldest, `root/${obj}`]).out).toBe("first\n");
    },
    STEP,
  );

  it(
    "delete the bucket, or change its versioning, lifecycle or bucket policy",
    async () => {
      const raw = await s3Request(minio.endpoint, key, "DELETE", `/${BUCKET}`);
      expect(raw.status, raw.body).toBe(403);
      // What an intruder would type: it fails, and every version is still there.
      const before = versions("restic/index/0001");
      expect(minio.mc(["rb", "--force", `key/${BUCKET}`]).code).not.toBe(0);
      expect(minio.mcOk(["ls", "root"]).map((l) => l.key)).toContain(`${BUCKET}/`);
      expect(versions("restic/index/0001").filter((v) => !v.deleteMarker)).toEqual(
        before.filter((v) => !v.deleteMarker),
      );
      expectDenied(minio.mc(["version", "suspend", `key/${BUCKET}`]));
      expectDenied(minio.mc(["ilm", "rule", "rm", "--all", "--force", `key/${BUCKET}`]));
      expectDenied(minio.mc(["ilm", "rule", "add", "--noncurrent-expire-days", "1", `key/${BUCKET}`]));
      expectDenied(minio.mc(["anonymous", "set", "public", `key/${BUCKET}`]));
      const [v] = minio.mcOk(["version", "info", `root/${BUCKET}`]);
      expect((v?.versioning as { status?: string } | undefined)?.status).toBe("Enabled");
    },
    STEP,
  );

  it(
    "make or attach policies, make users, or make more keys",
    () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-policy-")), "p.json");
      fs.writeFileSync(
        file,
        canonicalPolicy({
          Version: "2012-10-17",
          Statement: [{ Sid: "All", Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::*" }],
        }),
      );
      try {
        expectDenied(minio.mc(["admin", "policy", "create", "key", "everything", file]));
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
      expectDenied(minio.mc(["admin", "policy", "attach", "key", "readwrite", "--user", MAIL_SERVER_USER]));
      expectDenied(
        minio.mc(["admin", "policy", "detach", "key", MAIL_SERVER_POLICY, "--user", MAIL_SERVER_USER]),
      );
      expectDenied(
        minio.mc(["admin", "user", "add", "key", "intruder"], `intruder\n${randomCredentials().secretKey}\n`),
      );
      expectDenied(minio.mc(["admin", "user", "svcacct", "add", "key", MAIL_SERVER_USER]));
      // The server's users and policies are as the admin made them.
      expect(minio.mcOk(["admin", "user", "ls", "root"]).map((u) => u.accessKey)).toEqual([MAIL_SERVER_USER]);
      const [attached] = minio.mcOk(["admin", "user", "info", "root", MAIL_SERVER_USER]);
      expect(attached?.policyName).toBe(MAIL_SERVER_POLICY);
    },
    STEP,
  );
});

describe("the bucket outlives the stack", () => {
  it(
    "deleting it without force, as the provider does without forceDestroy, fails while only old versions are left",
    async () => {
      // Every object the key wrote was deleted: what is left are delete markers and noncurrent versions.
      const current = minio.mcOk(["ls", "--recursive", `root/${BUCKET}`]);
      expect(current).toEqual([]);
      expect(versions("restic/index/0001").length).toBeGreaterThan(1);
      const remove = await s3Request(minio.endpoint, minio.root, "DELETE", `/${BUCKET}`);
      expect(remove.status, remove.body).toBe(409);
      expect(remove.body).toContain("BucketNotEmpty");
    },
    STEP,
  );
});

describe("why the policy has its two denies", () => {
  it(
    "without them MinIO lets the same allows delete a version for good and make another key",
    () => {
      const control = "mail-control";
      minio.mcOk(["mb", `root/${control}`]);
      minio.mcOk(["version", "enable", `root/${control}`]);
      const full = JSON.parse(backupPolicy(control)) as PolicyDocument;
      const allowsOnly = canonicalPolicy({
        ...full,
        Statement: full.Statement.filter((s) => s.Effect === "Allow"),
      });
      minio.alias("ctl", provision("control-user", "control-policy", allowsOnly));
      minio.mcOk(["pipe", `ctl/${control}/file`], "v1\n");
      minio.mcOk(["pipe", `ctl/${control}/file`], "v2\n");
      const [newest] = minio.mcOk(["ls", "--versions", `root/${control}/file`]);
      minio.mcOk(["rm", "--version-id", String(newest?.versionId), `ctl/${control}/file`]);
      expect(minio.mcOk(["ls", "--versions", `root/${control}/file`])).toHaveLength(1);
      minio.mcOk(["admin", "user", "svcacct", "add", "ctl", "control-user"]);
    },
    STEP,
  );
});
