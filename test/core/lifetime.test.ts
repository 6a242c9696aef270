// src/core/lifetime.ts through the real engine (the pinned CLI, a throwaway
// file backend, the command provider standing in for MinIO, PostgreSQL and
// Cloudflare): each resource made with keptOnDestroy leaves a mark when it is
// really deleted. A destroy, or an up that stops using the provider, leaves
// no mark; an up that drops one resource, or replaces it, does. Then the
// README's two ways of taking the host back (Stopping management): the state
// exported before the destroy, and the last update's checkpoint in the
// backend's history; after each a preview finds nothing to change.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../src/core/template";

const STEP = 120_000;
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const SECTION = README.split(/^## Stopping management \(destroy\)$/m)[1]?.split(/^## /m)[0] ?? "";
const HISTORY = ".pulumi/history/mailstack/prod/";

// A project named like ours, so the backend's paths are the README's.
const PROGRAM = `import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { keptOnDestroy, neverDropped } from ${JSON.stringify(path.join(ROOT, "src/core/lifetime"))};

const config = new pulumi.Config();
const marks = config.require("marks");
if (config.requireBoolean("managed")) {
  const provider = new command.Provider("remote", {});
  for (const name of JSON.parse(config.require("names")) as string[]) {
    new command.local.Command(name, { create: "true", delete: "touch " + marks + "/" + name }, keptOnDestroy(provider));
  }
  for (const name of JSON.parse(config.get("retained") ?? "[]") as string[]) {
    new command.local.Command(name, { create: "true", delete: "touch " + marks + "/" + name }, neverDropped(provider));
  }
}
`;

let dir: string;
let project: string;
let marks: string;
let backend: string;
let env: Record<string, string>;
/** The resources made with neverDropped at the next up (the mail database's roles, database and grants). */
let retained: readonly string[] = [];

function pulumi(args: readonly string[]): { code: number | null; out: string } {
  const r = spawnSync("pulumi", [...args, "--stack", "prod", "--non-interactive"], {
    cwd: project,
    env,
    encoding: "utf8",
    timeout: STEP,
  });
  return { code: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error?.message ?? ""}` };
}

function ok(...args: string[]): string {
  const r = pulumi(args);
  if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.code}):\n${r.out}`);
  return r.out;
}

/** Sets the program's config and runs an up. */
function up(managed: boolean, names: readonly string[], ...extra: string[]): void {
  ok("config", "set", "managed", String(managed));
  ok("config", "set", "names", JSON.stringify(names));
  ok("config", "set", "retained", JSON.stringify(retained));
  ok("up", "--yes", "--skip-preview", ...extra);
}

/** The resources whose delete really ran since the last call. */
function deleted(): string[] {
  const names = fs.readdirSync(marks).sort();
  for (const n of names) fs.rmSync(path.join(marks, n));
  return names;
}

/** The commands in the stack's state. */
function commands(): string[] {
  const state = JSON.parse(ok("stack", "export")) as {
    deployment: { resources?: { type: string; urn: string }[] };
  };
  return (state.deployment.resources ?? [])
    .filter((r) => r.type === "command:local:Command")
    .map((r) => r.urn.split("::").pop() ?? "")
    .sort();
}

beforeAll(() => {
  if (spawnSync("pulumi", ["version"], { encoding: "utf8" }).status !== 0) {
    throw new Error(
      "pulumi is not on PATH. Run the suite with `npm test`, or first: source scripts/pulumi-env.sh",
    );
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-lifetime-"));
  project = path.join(dir, "project");
  marks = path.join(dir, "marks");
  backend = path.join(dir, "backend");
  for (const d of [project, marks, backend]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: mailstack\nruntime: nodejs\nmain: index.ts\n");
  fs.writeFileSync(path.join(project, "index.ts"), PROGRAM);
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
  env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    PULUMI_HOME: path.join(dir, ".pulumi"),
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "lifetime-test",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
  const init = spawnSync("pulumi", ["stack", "init", "prod", "--non-interactive"], {
    cwd: project,
    env,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`pulumi stack init failed: ${init.stdout}${init.stderr}`);
  ok("config", "set", "marks", marks);
}, STEP);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("keptOnDestroy through the real engine", () => {
  it(
    "an up that drops one resource while the provider stays still deletes it (a retired DKIM record)",
    () => {
      up(true, ["record", "key", "retired"]);
      expect(deleted()).toEqual([]);
      up(true, ["record", "key"]);
      expect(deleted()).toEqual(["retired"]);
    },
    STEP,
  );

  it(
    "a replacement still deletes the old one (a rotated backup key)",
    () => {
      up(true, ["record", "key"], "--replace", "urn:pulumi:prod::mailstack::command:local:Command::key");
      expect(deleted()).toEqual(["key"]);
    },
    STEP,
  );

  it(
    "destroy deletes none of them, and the state is empty",
    () => {
      ok("stack", "export", "--file", path.join(dir, "saved.json"));
      ok("destroy", "--yes", "--skip-preview");
      expect(deleted()).toEqual([]);
      expect(commands()).toEqual([]);
    },
    STEP,
  );

  it(
    "the state exported before the destroy takes them back: after stack import nothing needs changing",
    () => {
      expect(SECTION).toContain("pulumi stack import --stack prod --file");
      ok("stack", "import", "--file", path.join(dir, "saved.json"));
      expect(commands()).toEqual(["key", "record"]);
      ok("preview", "--expect-no-changes");
    },
    STEP,
  );

  it(
    "without an export, the last update's checkpoint in the backend's history takes them back",
    () => {
      ok("destroy", "--yes", "--skip-preview");
      expect(deleted()).toEqual([]);
      expect(SECTION).toContain(HISTORY);
      const history = path.join(backend, HISTORY);
      // Each operation writes <stack>-<time>.history.json and .checkpoint.json: the last update's.
      const kind = (f: string) =>
        (JSON.parse(fs.readFileSync(path.join(history, f), "utf8")) as { kind: string }).kind;
      const updates = fs
        .readdirSync(history)
        .filter((f) => f.endsWith(".history.json") && kind(f) === "update")
        .sort();
      const last = updates.at(-1)?.replace(/\.history\.json$/, ".checkpoint.json") ?? "";
      // What the README's jq line does: {version: 3, deployment: .checkpoint.latest}.
      const checkpoint = JSON.parse(fs.readFileSync(path.join(history, last), "utf8")) as {
        checkpoint: { latest: unknown };
      };
      expect(SECTION).toContain("jq '{version: 3, deployment: .checkpoint.latest}'");
      fs.writeFileSync(
        path.join(dir, "from-history.json"),
        JSON.stringify({ version: 3, deployment: checkpoint.checkpoint.latest }),
      );
      ok("stack", "import", "--file", path.join(dir, "from-history.json"));
      expect(commands()).toEqual(["key", "record"]);
      ok("preview", "--expect-no-changes");
    },
    STEP,
  );

  it(
    "an up that stops using the provider stops managing them and deletes none (dnsProvider zonefile)",
    () => {
      up(false, []);
      expect(deleted()).toEqual([]);
      expect(commands()).toEqual([]);
    },
    STEP,
  );
});

describe("neverDropped through the real engine (the mail database, issue 17)", () => {
  it(
    "an up that drops one while the provider stays forgets it and runs no delete (a grant the spec no longer has)",
    () => {
      retained = ["database", "role", "grant"];
      up(true, []);
      expect(commands()).toEqual(["database", "grant", "role"]);
      retained = ["database", "role"];
      up(true, []);
      expect(deleted()).toEqual([]);
      expect(commands()).toEqual(["database", "role"]);
    },
    STEP,
  );

  it(
    "a replacement runs no delete of the old one",
    () => {
      up(true, [], "--replace", "urn:pulumi:prod::mailstack::command:local:Command::role");
      expect(deleted()).toEqual([]);
      expect(commands()).toEqual(["database", "role"]);
    },
    STEP,
  );

  it(
    "an up that stops using the provider (dbMode preprovisioned) runs no delete and forgets them",
    () => {
      up(false, []);
      expect(deleted()).toEqual([]);
      expect(commands()).toEqual([]);
    },
    STEP,
  );
});
