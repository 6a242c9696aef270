// What `pulumi destroy` does to a running host (README, Stopping management):
// every resource of the whole graph, with MinIO storage, a managed database
// and Cloudflare DNS, sorted by what its deletion would do. What is kept is
// read from the registration requests the engine receives (deletedWith,
// retainOnDelete), not from the program's own objects. A resource of a new
// kind fails here until someone decides what a destroy does to it.
// test/sandbox/destroy-contract.ts destroys the sandbox's stack for real.
import { beforeAll, describe, expect, it } from "vitest";
import { flush, registrations, resources, settle, setup } from "./helpers/mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
setup(() => "debian 12 sysv\n");

/** The providers whose resources live off the host, and what of theirs a destroy must keep. */
const KEPT: Readonly<Record<string, readonly string[]>> = {
  minio: [
    "minio:index/iamPolicy:IamPolicy",
    "minio:index/iamServiceAccount:IamServiceAccount",
    "minio:index/iamUser:IamUser",
    "minio:index/iamUserPolicyAttachment:IamUserPolicyAttachment",
    "minio:index/ilmPolicy:IlmPolicy",
    "minio:index/s3Bucket:S3Bucket",
    "minio:index/s3BucketVersioning:S3BucketVersioning",
  ],
  postgresql: [
    "postgresql:index/database:Database",
    "postgresql:index/defaultPrivileges:DefaultPrivileges",
    "postgresql:index/grant:Grant",
    "postgresql:index/role:Role",
  ],
  cloudflare: ["cloudflare:index/dnsRecord:DnsRecord"],
};
/** Resources whose provider deletes nothing but the state: a key or a password made in the state. */
const STATE_ONLY = ["random:index/randomPassword:RandomPassword", "tls:index/privateKey:PrivateKey"];
/** The host's resources: a command deletes nothing unless it has a delete script. */
const COMMAND = "command:remote:Command";

/** The package of a provider's URN: urn:pulumi:<stack>::<project>::<parents$>pulumi:providers:<pkg>::<name>. */
function providerPackage(urn: string): string {
  return /pulumi:providers:([\w-]+)::[^:]+$/.exec(urn)?.[1] ?? "";
}

const customs = () =>
  [...registrations.entries()].filter(([, r]) => r.custom && !r.type.startsWith("pulumi:providers:"));

beforeAll(async () => {
  const pulumi = await import("@pulumi/pulumi");
  const { parseConfig } = await import("../src/config");
  const { MailStack } = await import("../src/mailstack");
  const config = parseConfig({
    values: {
      host: "203.0.113.25",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      sshPrivateKey: KEY,
      domains: JSON.stringify([{ name: "tlabs.team" }]),
      dbAdminPassword: "ADMIN-PASSWORD",
      users: JSON.stringify([{ address: "alice@tlabs.team" }]),
      passwordHashes: JSON.stringify({ "alice@tlabs.team": "{BLF-CRYPT}$2b$05$HASHHASHHASH" }),
      minioEndpoint: "https://minio.tlabs.team:9000",
      minioRootUser: "MINIO-ROOT-USER",
      minioRootPassword: "MINIO-ROOT-PASSWORD",
      backupPassword: "BACKUP-RESTIC-PASSWORD",
      dnsProvider: "cloudflare",
      cloudflareApiToken: "CF-TOKEN",
      cloudflareZoneIds: JSON.stringify({ "tlabs.team": "023e105f4ecef8ad9ca31a8372d0c353" }),
    },
    secretKeys: new Set([
      "sshPrivateKey",
      "dbAdminPassword",
      "passwordHashes",
      "minioRootUser",
      "minioRootPassword",
      "backupPassword",
      "cloudflareApiToken",
    ]),
  });
  const stack = new MailStack("mail", {
    config,
    privateKey: pulumi.secret(KEY),
    tunnel: async () => {},
  });
  await settle(stack.versions);
  await flush();
});

describe("pulumi destroy: stop managing, and the host keeps working", () => {
  it("the graph under test has every kind of resource a stack can have", () => {
    const types = new Set(customs().map(([, r]) => r.type));
    for (const t of [...Object.values(KEPT).flat(), ...STATE_ONLY, COMMAND]) expect(types, t).toContain(t);
    // Not one resource of a kind, but all of them: every MX, every grant, every command.
    expect(customs().length).toBeGreaterThan(60);
  });

  it("what the stack made on MinIO, PostgreSQL and Cloudflare is deleted only with its provider, which a destroy deletes too", () => {
    const managedOff = customs().filter(([, r]) => providerPackage(r.provider) in KEPT);
    expect(managedOff.length).toBeGreaterThan(20);
    // The backup user, its key and policy, the bucket; the roles and the database; the MX.
    for (const name of [
      "mail-storage-user",
      "mail-storage-access-key",
      "mail-storage-policy-attachment",
      "mail-storage-bucket",
      "mail-db-database",
      "mail-db-role-techmail",
      "mail-db-role-postfix_lookup",
      "mail-dns-mx-tlabs.team",
    ]) {
      expect(
        managedOff.map(([n]) => n),
        name,
      ).toContain(name);
    }
    const notKept = managedOff
      .filter(([, r]) => r.deletedWith === "" || r.deletedWith !== r.provider)
      .map(([n, r]) => `${n} (${r.type}) is deleted with "${r.deletedWith}"`);
    expect(notKept).toEqual([]);
    // And each is of a kind listed in KEPT, as the README lists them.
    const unlisted = managedOff.filter(([, r]) => !KEPT[providerPackage(r.provider)]?.includes(r.type));
    expect(unlisted.map(([n, r]) => `${n} (${r.type})`)).toEqual([]);
  });

  it("no command on the host has a delete script: a destroy leaves every file, service and mailbox", () => {
    const commands = [...resources.values()].filter((r) => r.type === COMMAND);
    expect(commands.length).toBeGreaterThan(30);
    const deleting = commands.filter((r) => r.inputs.delete !== undefined).map((r) => r.name);
    expect(deleting).toEqual([]);
  });

  it("every other resource's deletion only forgets it: a new kind needs a decision first", () => {
    const known = new Set([...STATE_ONLY, COMMAND]);
    const undecided = customs()
      .filter(([, r]) => !(providerPackage(r.provider) in KEPT) && !known.has(r.type))
      .map(([n, r]) => `${n} (${r.type})`);
    expect(undecided).toEqual([]);
  });

  it("only the mail database is retainOnDelete: a retired record, a removed domain or a rotated key is still deleted", () => {
    const retained = [...registrations.entries()].filter(([, r]) => r.retainOnDelete);
    // The roles, the database and every grant (src/core/lifetime.ts, neverDropped): all of PostgreSQL's, nothing else.
    const postgres = customs().filter(([, r]) => providerPackage(r.provider) === "postgresql");
    expect(postgres.length).toBeGreaterThan(10);
    expect(retained.map(([n]) => n).sort()).toEqual(postgres.map(([n]) => n).sort());
  });
});
