// The settings of a stack file (Pulumi.<stack>.yaml) as a program reads them,
// for tests, which decrypt nothing: each encrypted leaf becomes a stand-in that
// passes validation, and the secrets an operator sets with --secret (absent
// from the file) get stand-ins too.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as jsyaml from "js-yaml";

export interface StandIns {
  /** For mailstack:sshPrivateKey, when the file names no key path. */
  readonly sshKey: string;
  /** For each leaf of mailstack:passwordHashes. */
  readonly passwordHash: string;
  /** For each leaf of mailstack:dkimPrivateKeys (an RSA key of 2048 bits or more). */
  readonly dkimKey: string;
}

/** The `config:` map of a stack file, keys as written (mailstack:...). */
export function stackFileSettings(file: string): Record<string, unknown> {
  const stack = jsyaml.load(fs.readFileSync(path.join(__dirname, "..", "..", file), "utf8")) as {
    config: Record<string, unknown>;
  };
  return stack.config;
}

/** Short key -> value (objects as JSON), with stand-ins for every secret. */
export function standInValues(settings: Record<string, unknown>, s: StandIns): Record<string, string> {
  const standIn = (v: unknown, leaf: string): unknown => {
    if (typeof v !== "object" || v === null) return v;
    if ("secure" in v) return leaf;
    if (Array.isArray(v)) return v.map((x) => standIn(x, leaf));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, standIn(x, leaf)]));
  };
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings)) {
    const short = k.slice("mailstack:".length);
    const leaf =
      short === "passwordHashes"
        ? s.passwordHash
        : short === "dkimPrivateKeys"
          ? s.dkimKey
          : short === "backupPassword"
            ? "stand-in-of-16-characters-or-more"
            : "stand-in";
    const value = standIn(v, leaf);
    values[short] = typeof value === "string" ? value : JSON.stringify(value);
  }
  if (values.sshPrivateKeyPath === undefined) values.sshPrivateKey = s.sshKey;
  if (values.dbMode !== "preprovisioned") values.dbAdminPassword = "stand-in";
  const storage = values.storageMode ?? "minio";
  const keys = storage === "minio" ? ["minioRootUser", "minioRootPassword"] : [];
  if (storage === "external") keys.push("s3AccessKeyId", "s3SecretAccessKey");
  if (storage !== "none") keys.push("backupPassword");
  for (const k of keys) values[k] ??= "stand-in-key-of-16-chars";
  return values;
}

/** A private key made here, PKCS#8 PEM: stand-ins for imported keys, good and bad. */
export function privateKeyPem(type: "rsa" | "ed25519" | "ec", bits = 2048): string {
  const key =
    type === "rsa"
      ? crypto.generateKeyPairSync("rsa", { modulusLength: bits }).privateKey
      : type === "ec"
        ? crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey
        : crypto.generateKeyPairSync("ed25519").privateKey;
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}
