// A throwaway MinIO server for tests, and its client: the `minio` and `mc`
// binaries scripts/toolchain.sh builds from their Go modules (`servers`
// mode). The server listens on a free port of 127.0.0.1 with a fresh temp dir
// for its data; its root credentials are made at random for each run and
// reach MinIO and mc only through their environments, never a command line,
// and no message quotes them (nor any key made later). Call stop() in
// afterAll; an exit hook kills the server too if a run is cut short.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./nsd";

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const MC_TIMEOUT_MS = 20_000;

/** Where toolchain.sh puts the binaries it builds. */
export const TOOLCHAIN_BIN = path.join(
  process.env.MAILSTACK_CACHE ?? path.join(os.homedir(), ".cache", "mailstack"),
  "toolchain",
  "bin",
);

export interface Credentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export interface McResult {
  readonly code: number | null;
  /** stdout and stderr together, every known secret replaced by (secret). */
  readonly out: string;
}

export interface TestMinio {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly root: Credentials;
  /** Makes `alias` name these credentials for mc (through MC_HOST_<alias>). */
  alias(alias: string, creds: Credentials): void;
  /** Runs `mc --json <args>`; `input` goes to its stdin. */
  mc(args: readonly string[], input?: string): McResult;
  /** Like mc(), but throws with mc's (redacted) output unless it succeeds; returns its JSON lines. */
  mcOk(args: readonly string[], input?: string): Record<string, unknown>[];
  /** Replaces every credential this server knows of with (secret). */
  redact(text: string): string;
  /** Stops the server (TERM, then KILL), waits for it to exit and removes the temp dir. */
  stop(): Promise<void>;
}

/** Throws, naming the command that builds them, unless both binaries are there. */
export function requireMinioBinaries(): { minio: string; mc: string } {
  const bins = { minio: path.join(TOOLCHAIN_BIN, "minio"), mc: path.join(TOOLCHAIN_BIN, "mc") };
  for (const b of Object.values(bins)) {
    if (!fs.existsSync(b)) {
      throw new Error(`${b} is missing: build MinIO and mc with: bash scripts/toolchain.sh servers`);
    }
  }
  return bins;
}

/** Fresh random credentials, in hex. */
export function randomCredentials(): Credentials {
  return {
    accessKey: crypto.randomBytes(10).toString("hex"),
    secretKey: crypto.randomBytes(20).toString("hex"),
  };
}

export async function startMinio(): Promise<TestMinio> {
  const bins = requireMinioBinaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-minio-"));
  const data = path.join(dir, "data");
  const log = path.join(dir, "minio.log");
  fs.mkdirSync(data);
  const root = randomCredentials();
  const secrets = new Set<string>([root.accessKey, root.secretKey]);
  // Known credentials, and any secret key mc prints (a key it just made).
  const redact = (text: string) => {
    let out = text.replace(/("secretKey"\s*:\s*")[^"]*/g, "$1(secret)");
    for (const s of secrets) out = out.split(s).join("(secret)");
    return out;
  };

  let proc: ChildProcess | undefined;
  const kill = () => proc?.kill("SIGKILL");
  process.once("exit", kill);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const child = proc;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    process.removeListener("exit", kill);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const logFd = fs.openSync(log, "a");
    // The server's whole environment: no proxy or AWS settings of the caller's
    // leak in. --quiet and MINIO_UPDATE=off: no update check, nothing leaves loopback.
    proc = spawn(bins.minio, ["server", "--quiet", "--address", `127.0.0.1:${port}`, data], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dir,
        MINIO_ROOT_USER: root.accessKey,
        MINIO_ROOT_PASSWORD: root.secretKey,
        MINIO_BROWSER: "off",
        MINIO_UPDATE: "off",
      },
      stdio: ["ignore", logFd, logFd],
    });
    fs.closeSync(logFd);
    const logText = () => redact(fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");

    const started = Date.now();
    for (;;) {
      const ready = await fetch(`${endpoint}/minio/health/ready`, {
        signal: AbortSignal.timeout(2_000),
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (proc.exitCode !== null || Date.now() - started > STARTUP_TIMEOUT_MS) {
        throw new Error(`MinIO did not start on ${endpoint} within ${STARTUP_TIMEOUT_MS} ms:\n${logText()}`);
      }
      await new Promise((res) => setTimeout(res, 200));
    }

    // mc's whole environment: its config in the temp dir, aliases from MC_HOST_*.
    const mcEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      MC_CONFIG_DIR: path.join(dir, "mc"),
      MC_UPDATE: "off",
      NO_COLOR: "1",
    };
    const alias = (name: string, creds: Credentials) => {
      secrets.add(creds.accessKey);
      secrets.add(creds.secretKey);
      // mc splits MC_HOST_* with a pattern and takes the keys as written, not
      // URL-decoded: they can hold anything but a ":" in the access key and an "@".
      if (creds.accessKey.includes(":") || `${creds.accessKey}${creds.secretKey}`.includes("@"))
        throw new Error(`mc alias ${name}: a key with ":" or "@" cannot go in MC_HOST_${name}`);
      mcEnv[`MC_HOST_${name}`] = `http://${creds.accessKey}:${creds.secretKey}@127.0.0.1:${port}`;
    };
    alias("root", root);
    const run = (args: readonly string[], input?: string) => {
      const r = spawnSync(bins.mc, ["--json", ...args], {
        env: mcEnv,
        encoding: "utf8",
        timeout: MC_TIMEOUT_MS,
        ...(input !== undefined ? { input } : { stdio: ["ignore", "pipe", "pipe"] }),
      });
      const out = redact(`${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}`);
      return { code: r.status, out, stdout: r.stdout ?? "" };
    };
    const mc = (args: readonly string[], input?: string): McResult => {
      const { code, out } = run(args, input);
      return { code, out };
    };
    const mcOk = (args: readonly string[], input?: string) => {
      const r = run(args, input);
      if (r.code !== 0) throw new Error(`mc ${redact(args.join(" "))} failed (exit ${r.code}):\n${r.out}`);
      return jsonObjects(r.stdout);
    };
    return { endpoint, root, alias, mc, mcOk, redact, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The JSON objects mc --json writes one after another, some on one line,
 * some indented over several. Pure.
 */
export function jsonObjects(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" && depth++ === 0) start = i;
    else if (c === "}" && --depth === 0)
      out.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
  }
  return out;
}

/**
 * One S3 request signed with AWS Signature Version 4, for the actions mc
 * cannot aim at alone (GetBucketLocation, multipart uploads, DeleteBucket,
 * deleting one version). No body; `query` is sent sorted.
 */
export async function s3Request(
  endpoint: string,
  creds: Credentials,
  method: string,
  pathname: string,
  query: Readonly<Record<string, string>> = {},
  region = "us-east-1",
): Promise<{ status: number; body: string }> {
  const url = new URL(pathname, endpoint);
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${enc(k)}=${enc(query[k] ?? "")}`)
    .join("&");
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
  const day = amzDate.slice(0, 8);
  const payloadHash = crypto.createHash("sha256").update("").digest("hex");
  const headers: Record<string, string> = {
    host: url.host,
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": amzDate,
  };
  const signed = Object.keys(headers).sort();
  const canonicalPath = url.pathname
    .split("/")
    .map((s) => enc(decodeURIComponent(s)))
    .join("/");
  const canonical = [
    method,
    canonicalPath,
    canonicalQuery,
    ...signed.map((h) => `${h}:${headers[h]}`),
    "",
    signed.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    crypto.createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const hmac = (key: crypto.BinaryLike, text: string) =>
    crypto.createHmac("sha256", key).update(text).digest();
  let key: Buffer = hmac(`AWS4${creds.secretKey}`, day);
  for (const part of [region, "s3", "aws4_request"]) key = hmac(key, part);
  const signature = crypto.createHmac("sha256", key).update(toSign).digest("hex");
  const res = await fetch(`${url.origin}${canonicalPath}${canonicalQuery ? `?${canonicalQuery}` : ""}`, {
    method,
    headers: {
      "x-amz-content-sha256": payloadHash,
      "x-amz-date": amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${signed.join(";")}, Signature=${signature}`,
    },
    signal: AbortSignal.timeout(MC_TIMEOUT_MS),
  });
  return { status: res.status, body: await res.text() };
}
