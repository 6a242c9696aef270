// The GitHub Actions workflows (.github/workflows), parsed as data: their
// triggers and permissions, the pulumi/actions step's inputs, that every
// `run:` line is a command the README documents, and that secrets come only
// from the repository's secrets, under the names the README lists.
// scripts/test.sh also runs actionlint on them.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as jsyaml from "js-yaml";
import { describe, expect, it } from "vitest";
import { ROOT } from "../src/core/template";

interface Step {
  readonly id?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
  readonly env?: Record<string, unknown>;
}
interface Job {
  readonly "runs-on": string;
  readonly container?: { readonly image: string; readonly options?: string };
  readonly steps: readonly Step[];
  readonly env?: Record<string, unknown>;
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions: Record<string, string>;
  readonly concurrency?: { readonly group: string };
  readonly jobs: Record<string, Job>;
  readonly env?: Record<string, unknown>;
}

const WORKFLOW_DIR = path.join(ROOT, ".github", "workflows");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

function load(file: string): Workflow {
  const doc = jsyaml.load(fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8"));
  if (typeof doc !== "object" || doc === null || !("jobs" in doc) || !("on" in doc)) {
    throw new Error(`${file} is not a workflow (no on: or jobs:)`);
  }
  return doc as Workflow;
}

const preview = load("preview.yml");
const test = load("test.yml");
const ALL: Record<string, Workflow> = { "preview.yml": preview, "test.yml": test };

function steps(w: Workflow): Step[] {
  return Object.values(w.jobs).flatMap((j) => [...j.steps]);
}

function only<T>(items: readonly T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected ${what}, found ${items.length}`);
  return items[0] as T;
}

/** Each line of every fenced code block, without a trailing `# comment`. Pure. */
function documentedCommands(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const block of markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)) {
    for (const line of (block[1] ?? "").split("\n")) {
      const command = line.replace(/\s+#\s.*$/, "").trim();
      if (command !== "" && !command.startsWith("#")) out.add(command);
    }
  }
  return out;
}

/** The commands of a workflow's run: steps, one per line, comments and blank lines dropped. Pure. */
function runCommands(w: Workflow): string[] {
  return steps(w).flatMap((s) =>
    (s.run ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
}

/** A GitHub Actions expression, `${{ inner }}`. Pure. */
function expr(inner: string): string {
  return `\${{ ${inner} }}`;
}

const SECRET_REF = /^\$\{\{ secrets\.([A-Z][A-Z0-9_]*) \}\}$/;
// Env vars and action inputs whose value is a secret (an actions/cache `key` is not).
const SECRET_NAME = /PASS|SECRET|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|KEY_ID|BACKEND_URL|^cloud-url$/i;

/**
 * Where a workflow could hold or leak a secret, as messages. Every value of a
 * secret-looking env var or action input must be exactly `${{ secrets.NAME }}`;
 * `secrets.` may appear nowhere else (not in a run: script, where it would be
 * pasted into the command text); and no key material may appear at all. Pure.
 */
function secretProblems(w: Workflow): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, where: string, key: string): void => {
    if (typeof value === "string") {
      const ref = SECRET_REF.test(value);
      if (SECRET_NAME.test(key) && !ref) problems.push(`${where}: ${key} is not ${expr("secrets.NAME")}`);
      if (!ref && value.includes("secrets.")) problems.push(`${where}: a secret inside a longer string`);
      if (/-----BEGIN|AKIA[0-9A-Z]{16}/.test(value)) problems.push(`${where}: key material`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        visit(v, `${where}[${i}]`, key);
      });
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) visit(v, `${where}.${k}`, k);
    }
  };
  visit(w, "workflow", "");
  return problems;
}

/** The NAMEs of every `${{ secrets.NAME }}` in a workflow. Pure. */
function secretsUsed(w: Workflow): Set<string> {
  const text = JSON.stringify(w);
  return new Set([...text.matchAll(/\$\{\{ secrets\.([A-Z][A-Z0-9_]*) \}\}/g)].map((m) => m[1] ?? ""));
}

/** The backticked names in the first column of the README's repository-secrets table. Pure. */
function documentedSecrets(markdown: string): Set<string> {
  const section = markdown.split(/^### Repository secrets$/m)[1]?.split(/^#{2,3} /m)[0] ?? "";
  return new Set([...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)].map((m) => m[1] ?? ""));
}

describe("the workflow checks themselves", () => {
  it("find a plain-text secret, a secret pasted into a script and key material", () => {
    const bad = {
      on: { push: null },
      permissions: {},
      jobs: {
        a: {
          "runs-on": "ubuntu-24.04",
          steps: [
            { run: `echo ${expr("secrets.PULUMI_CONFIG_PASSPHRASE")}` },
            { uses: "x/y@v1", env: { PULUMI_CONFIG_PASSPHRASE: "hunter2" } },
            { uses: "x/y@v1", with: { "cloud-url": "s3://state" } },
            { uses: "x/y@v1", env: { DEPLOY: "-----BEGIN OPENSSH PRIVATE KEY-----" } },
          ],
        },
      },
    } satisfies Workflow;
    expect(secretProblems(bad)).toEqual([
      "workflow.jobs.a.steps[0].run: a secret inside a longer string",
      `workflow.jobs.a.steps[1].env.PULUMI_CONFIG_PASSPHRASE: PULUMI_CONFIG_PASSPHRASE is not ${expr("secrets.NAME")}`,
      `workflow.jobs.a.steps[2].with.cloud-url: cloud-url is not ${expr("secrets.NAME")}`,
      "workflow.jobs.a.steps[3].env.DEPLOY: key material",
    ]);
  });

  it("read commands from code blocks, without their comments, and not from prose", () => {
    const md = "Run `npm ci` first.\n\n```sh\nnpm ci   # deps\n# a comment\nbash .ci/run\n```\n";
    expect([...documentedCommands(md)]).toEqual(["npm ci", "bash .ci/run"]);
  });
});

describe("preview.yml", () => {
  const job = only(Object.values(preview.jobs), "one job");
  const pulumiStep = only(
    job.steps.filter((s) => s.uses?.startsWith("pulumi/actions@")),
    "one pulumi/actions step",
  );

  it("runs on pull requests only, with a token that reads code and writes pull requests", () => {
    expect(Object.keys(preview.on)).toEqual(["pull_request"]);
    expect(preview.permissions).toEqual({ contents: "read", "pull-requests": "write" });
    expect(preview.concurrency?.group).toContain("github.event.pull_request.number");
  });

  it("previews prod with a diff and the policy pack, and comments on the pull request", () => {
    expect(pulumiStep.uses).toMatch(/^pulumi\/actions@v\d+$/);
    expect(pulumiStep.with).toMatchObject({
      command: "preview",
      "stack-name": "prod",
      diff: true,
      policyPacks: "policy",
      "comment-on-pr": true,
      "github-token": expr("secrets.GITHUB_TOKEN"),
      "cloud-url": expr("secrets.PULUMI_BACKEND_URL"),
    });
    expect(pulumiStep.env).toHaveProperty("PULUMI_CONFIG_PASSPHRASE");
  });

  it("installs the CLI at the version the lockfile pins for @pulumi/pulumi", () => {
    const m = /^\$\{\{ steps\.([a-z-]+)\.outputs\.([a-z-]+) \}\}$/.exec(
      String(pulumiStep.with?.["pulumi-version"]),
    );
    expect(m, "pulumi-version comes from a step's output").not.toBeNull();
    const pin = only(
      job.steps.filter((s) => s.id === m?.[1]),
      `the step ${m?.[1]}`,
    );
    // Run the step's script as the runner would, and read what it wrote.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-workflow-"));
    try {
      const output = path.join(dir, "output");
      const r = spawnSync("bash", ["-euo", "pipefail", "-c", pin.run ?? ""], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GITHUB_OUTPUT: output },
        encoding: "utf8",
      });
      expect(r.status, r.stderr).toBe(0);
      const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
      const version: string = lock.packages["node_modules/@pulumi/pulumi"].version;
      expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(fs.readFileSync(output, "utf8")).toBe(`${m?.[2]}=${version}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("installs the packages before the preview, on Node.js 20", () => {
    const names = job.steps.map((s) => s.uses?.split("@")[0] ?? s.run);
    expect(names.indexOf("npm ci")).toBeGreaterThan(names.indexOf("actions/setup-node"));
    expect(names.indexOf("pulumi/actions")).toBeGreaterThan(names.indexOf("npm ci"));
    expect(job.steps.find((s) => s.uses?.startsWith("actions/setup-node@"))?.with?.["node-version"]).toBe(20);
  });

  it("does not run for forks' pull requests, which get no secrets", () => {
    expect((job as Job & { if?: string }).if).toBe(
      "github.event.pull_request.head.repo.full_name == github.repository",
    );
  });
});

describe("test.yml", () => {
  const job = only(Object.values(test.jobs), "one job");

  it("runs on every push, with a token that only reads", () => {
    expect(Object.keys(test.on)).toEqual(["push"]);
    expect(test.on.push).toBeNull();
    expect(test.permissions).toEqual({ contents: "read" });
  });

  it("runs the README's test command, through .ci/run, as root on a privileged Debian 12", () => {
    expect(job.container?.image).toBe("debian:12");
    expect(job.container?.options?.split(/\s+/)).toContain("--privileged");
    expect(job.steps.at(-1)?.run).toBe("bash .ci/run");
    expect(fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8")).toMatch(/^exec npm test$/m);
    expect(documentedCommands(README)).toContain("npm test");
  });

  it("sets up Node.js 20 and the Go the toolchain's go.mod names", () => {
    const setup = (a: string) => job.steps.find((s) => s.uses?.startsWith(`${a}@`))?.with ?? {};
    expect(setup("actions/setup-node")["node-version"]).toBe(20);
    const goMod = String(setup("actions/setup-go")["go-version-file"]);
    expect(fs.readFileSync(path.join(ROOT, goMod), "utf8")).toMatch(/^go 1\.\d+/m);
  });

  it("caches the toolchain's builds, keyed on the lockfile and scripts/toolchain*", () => {
    const cache = job.steps.find(
      (s) => s.uses?.startsWith("actions/cache@") && s.with?.path === "~/.cache/mailstack/toolchain",
    );
    expect(cache, "a cache of ~/.cache/mailstack/toolchain").toBeDefined();
    expect(String(cache?.with?.key)).toContain(
      "hashFiles('package-lock.json', 'scripts/toolchain.sh', 'scripts/toolchain/**')",
    );
  });

  it("caches the sandbox's images, keyed on scripts/sandbox.sh and the parts it sources", () => {
    const cache = job.steps.find(
      (s) => s.uses?.startsWith("actions/cache@") && s.with?.path === "~/.cache/mailstack/sandbox/*.tar.zst",
    );
    expect(cache, "a cache of the sandbox's images").toBeDefined();
    expect(String(cache?.with?.key)).toContain("hashFiles('scripts/sandbox.sh', 'scripts/sandbox/*.sh')");
  });
});

describe("both workflows", () => {
  const documented = documentedCommands(README);

  it.each(Object.keys(ALL))("%s runs only commands the README documents", (file) => {
    const commands = runCommands(ALL[file] as Workflow);
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter((c) => !documented.has(c))).toEqual([]);
  });

  it.each(Object.keys(ALL))("%s takes every secret from the repository's secrets", (file) => {
    expect(secretProblems(ALL[file] as Workflow)).toEqual([]);
  });

  it("use exactly the repository secrets the README lists (GITHUB_TOKEN is GitHub's own)", () => {
    const used = new Set([...secretsUsed(preview), ...secretsUsed(test)]);
    used.delete("GITHUB_TOKEN");
    expect([...documentedSecrets(README)].sort()).toEqual([...used].sort());
    expect(used.size).toBeGreaterThan(0);
  });

  it("hand secrets to the pulumi/actions step alone", () => {
    for (const w of Object.values(ALL)) {
      const holders = steps(w).filter((s) => JSON.stringify(s).includes("secrets."));
      expect(holders.map((s) => s.uses?.split("@")[0])).toEqual(w === preview ? ["pulumi/actions"] : []);
      const outside = { ...w, jobs: Object.values(w.jobs).map((j) => ({ ...j, steps: [] })) };
      expect(JSON.stringify(outside)).not.toContain("secrets.");
    }
  });
});
