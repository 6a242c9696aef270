// The README's self-managed state backend (Continuous integration: The state
// backend, The passphrase secrets provider), followed against a throwaway
// MinIO on loopback (scripts/toolchain.sh servers builds it) with the pinned
// CLI: `pulumi login` with the documented s3:// URL (its endpoint swapped for
// this MinIO's), `stack init` with the passphrase provider, a secret that
// reaches the bucket only encrypted, two concurrent updates (the second stops
// on the lock, a preview meanwhile does not wait), and the passphrase
// rotation. The project is a throwaway one named like ours, so the lock's
// path is the one the README gives; its program can hold an update open.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../src/core/template";
import { startMinio, type TestMinio } from "./helpers/minio";

const STEP = 120_000;
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const SECTION = README.split(/^### The state backend$/m)[1]?.split(/^#{2,3} /m)[0] ?? "";
const SECRET = `state-test-${crypto.randomBytes(12).toString("hex")}`;

// The program: exports a secret from config; with HOLD set it first marks
// `started` and waits for `release`, so the update holds its lock meanwhile.
const PROGRAM = `const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const hold = process.env.HOLD;
module.exports = (async () => {
  if (hold) {
    fs.writeFileSync(hold + "/started", "");
    while (!fs.existsSync(hold + "/release")) await new Promise((r) => setTimeout(r, 100));
  }
  return { token: new pulumi.Config().requireSecret("token") };
})();
`;

let minio: TestMinio;
let dir: string;
let project: string;
let env: Record<string, string>;
let bucket: string;

/** The documented URL, pointed at this MinIO. */
function loginUrl(): string {
  const documented = /^pulumi login '(s3:\/\/[^']+)'$/m.exec(SECTION)?.[1];
  if (documented === undefined)
    throw new Error("README: The state backend has no pulumi login 's3://...' line");
  const url = new URL(documented);
  url.searchParams.set("endpoint", minio.endpoint);
  return url.toString();
}

function pulumi(args: readonly string[], input?: string, extra: Record<string, string> = {}) {
  const r = spawnSync("pulumi", [...args, "--non-interactive"], {
    cwd: project,
    env: { ...env, ...extra },
    encoding: "utf8",
    timeout: STEP,
    ...(input !== undefined ? { input } : { stdio: ["ignore", "pipe", "pipe"] }),
  });
  return { code: r.status, out: minio.redact(`${r.stdout ?? ""}${r.stderr ?? ""}${r.error?.message ?? ""}`) };
}

function pulumiOk(args: readonly string[], input?: string, extra: Record<string, string> = {}): string {
  const r = pulumi(args, input, extra);
  if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}):\n${r.out}`);
  return r.out;
}

/** Keys of the objects under prefix in the state bucket. */
function objects(prefix: string): string[] {
  return minio
    .mcOk(["ls", "--recursive", `root/${bucket}/${prefix}`])
    .map((l) => `${prefix}${String(l.key)}`);
}

function passphraseFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${text}\n`, { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  if (spawnSync("pulumi", ["version"], { encoding: "utf8" }).status !== 0) {
    throw new Error(
      "pulumi is not on PATH. Run the suite with `npm test`, or first: source scripts/pulumi-env.sh",
    );
  }
  minio = await startMinio();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-state-"));
  project = path.join(dir, "project");
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: mailstack\nruntime: nodejs\nmain: index.js\n");
  fs.writeFileSync(path.join(project, "index.js"), PROGRAM);
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
  bucket = new URL(loginUrl()).hostname;
  minio.mcOk(["mb", `root/${bucket}`]);
  // Pulumi's whole environment: its home in the temp dir, the bucket key as
  // the AWS variables the README names, the passphrase from a mode-600 file.
  env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    PULUMI_HOME: path.join(dir, ".pulumi"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    AWS_ACCESS_KEY_ID: minio.root.accessKey,
    AWS_SECRET_ACCESS_KEY: minio.root.secretKey,
    PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile("old.passphrase", crypto.randomBytes(16).toString("hex")),
  };
}, STEP);

afterAll(async () => {
  await minio?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the state backend as the README documents it", () => {
  it(
    "logs in with the documented parameters and keeps the stack in the bucket, its secret encrypted",
    () => {
      const url = new URL(loginUrl());
      expect(url.searchParams.get("region")).toBeTruthy();
      expect(url.searchParams.get("s3ForcePathStyle")).toBe("true");
      pulumiOk(["login", url.toString()]);
      pulumiOk(["stack", "init", "prod", "--secrets-provider", "passphrase"]);
      pulumiOk(["config", "set", "--secret", "token", "--stack", "prod"], SECRET);
      pulumiOk(["up", "--yes", "--skip-preview", "--stack", "prod"]);

      const stackFile = fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8");
      expect(stackFile).toMatch(/^encryptionsalt: v1:/m);
      expect(stackFile).toMatch(/secure: v1:/);
      expect(stackFile).not.toContain(SECRET);
      expect(objects(".pulumi/stacks/")).toContain(".pulumi/stacks/mailstack/prod.json");
      const state = minio.mc(["cat", `root/${bucket}/.pulumi/stacks/mailstack/prod.json`]).out;
      expect(state).toContain('"token"');
      expect(state).not.toContain(SECRET);
    },
    STEP,
  );

  it(
    "locks: a second update stops while one runs, a preview does not wait, and the lock goes with the update",
    async () => {
      const hold = path.join(dir, "hold");
      fs.mkdirSync(hold);
      const log = path.join(dir, "first-up.log");
      const fd = fs.openSync(log, "w");
      const first: ChildProcess = spawn(
        "pulumi",
        ["up", "--yes", "--skip-preview", "--stack", "prod", "--non-interactive"],
        { cwd: project, env: { ...env, HOLD: hold }, stdio: ["ignore", fd, fd] },
      );
      fs.closeSync(fd);
      const exited = new Promise<number | null>((resolve) => first.once("exit", (code) => resolve(code)));
      try {
        const started = Date.now();
        while (!fs.existsSync(path.join(hold, "started"))) {
          if (first.exitCode !== null || Date.now() - started > STEP / 2) {
            throw new Error(`the first update did not reach its program:\n${fs.readFileSync(log, "utf8")}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        const locks = objects(".pulumi/locks/");
        expect(locks).toHaveLength(1);
        expect(locks[0]).toMatch(/^\.pulumi\/locks\/organization\/mailstack\/prod\/[0-9a-f-]+\.json$/);

        const second = pulumi(["up", "--yes", "--skip-preview", "--stack", "prod"]);
        expect(second.code).not.toBe(0);
        expect(second.out).toContain(
          "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.",
        );
        expect(second.out).toContain(locks[0]);
        expect(SECTION).toContain("error: the stack is currently locked by 1 lock(s).");

        const preview = pulumi(["preview", "--stack", "prod"]);
        expect(preview.code, preview.out).toBe(0);
      } finally {
        fs.writeFileSync(path.join(hold, "release"), "");
      }
      expect(await exited, fs.readFileSync(log, "utf8")).toBe(0);
      expect(objects(".pulumi/locks/")).toEqual([]);
      pulumiOk(["up", "--yes", "--skip-preview", "--stack", "prod"]);
    },
    STEP,
  );

  it(
    "rotates the passphrase: the new one opens config and state, the old one no longer does",
    () => {
      const command = /^(pulumi stack change-secrets-provider passphrase --stack prod) < \S+$/m.exec(
        README,
      )?.[1];
      expect(command, "README: the rotation command").toBeDefined();
      const before = fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8");
      const newPassphrase = crypto.randomBytes(16).toString("hex");
      const newFile = passphraseFile("new.passphrase", newPassphrase);
      pulumiOk((command ?? "").split(" ").slice(1), `${newPassphrase}\n`);

      const after = fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8");
      expect(after).not.toBe(before);
      const asNew = { PULUMI_CONFIG_PASSPHRASE_FILE: newFile };
      expect(pulumiOk(["config", "get", "token", "--stack", "prod"], undefined, asNew)).toBe(`${SECRET}\n`);
      const old = pulumi(["config", "get", "token", "--stack", "prod"]);
      expect(old.code).not.toBe(0);
      expect(old.out).toContain("incorrect passphrase");
      const shown = pulumiOk(
        ["stack", "output", "token", "--show-secrets", "--stack", "prod"],
        undefined,
        asNew,
      );
      expect(shown).toBe(`${SECRET}\n`);
      pulumiOk(["up", "--yes", "--skip-preview", "--stack", "prod"], undefined, asNew);
    },
    STEP,
  );
});
