// npm run audit -- --stack NAME [--out DIR] [--format md|json] [--export FILE [--outputs FILE]]
// The I/O around the pure report (report.ts): runs `pulumi stack export` and
// `pulumi stack output --json` (never --show-secrets), or reads them from
// saved files, evaluates the policy rules over the export, and writes
// audit-NAME.md and audit-NAME.json (or one of them to stdout).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { evaluate, RULES } from "../../policy/rules";
import { ROOT } from "../../src/core/template";
import { renderAudit, summaryRows } from "./report";
import { policyResources, readExport } from "./state";

const USAGE = `usage: npm run audit -- --stack NAME [--out DIR] [--format md|json] [--export FILE [--outputs FILE]]
  --stack NAME     the stack to audit (required)
  --out DIR        where audit-NAME.md and audit-NAME.json go (default: the current directory)
  --format md|json print that one report to stdout instead of writing files
  --export FILE    a saved \`pulumi stack export\` instead of running pulumi
  --outputs FILE   a saved \`pulumi stack output --json\` (default with --export: the export's own outputs)`;

interface Options {
  readonly stack: string;
  readonly out: string;
  readonly format?: "md" | "json";
  readonly exportFile?: string;
  readonly outputsFile?: string;
}

/** The command line as options; throws the usage with what is wrong. Pure. */
export function parseArgs(args: readonly string[], cwd: string): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] ?? "";
    const value = args[i + 1];
    if (!["--stack", "--out", "--format", "--export", "--outputs"].includes(flag)) {
      throw new Error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
    }
    if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value\n${USAGE}`);
    values.set(flag, value);
    i++;
  }
  const stack = values.get("--stack");
  if (!stack) throw new Error(`--stack is required\n${USAGE}`);
  const format = values.get("--format");
  if (format !== undefined && format !== "md" && format !== "json") {
    throw new Error(`--format is md or json, not ${JSON.stringify(format)}\n${USAGE}`);
  }
  const file = (flag: string) => {
    const v = values.get(flag);
    return v === undefined ? undefined : path.resolve(cwd, v);
  };
  if (values.has("--outputs") && !values.has("--export")) {
    throw new Error(`--outputs needs --export: a saved outputs file alone has no resources\n${USAGE}`);
  }
  return {
    stack,
    out: file("--out") ?? cwd,
    ...(format ? { format } : {}),
    ...(values.has("--export") ? { exportFile: file("--export") } : {}),
    ...(values.has("--outputs") ? { outputsFile: file("--outputs") } : {}),
  };
}

/** A pulumi command's stdout as JSON; says how to get pulumi when it is missing. */
export function pulumiJson(args: readonly string[]): unknown {
  try {
    const out = execFileSync("pulumi", args, {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 1 << 30,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error("pulumi is not on PATH: install it, or in this repo run: source scripts/pulumi-env.sh");
    }
    throw new Error(`pulumi ${args.join(" ")} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

export function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`cannot read ${what} from ${file}: ${(err as Error).message}`);
  }
}

/** The root stack resource's outputs in an export (encrypted ones stay encrypted: the report shows them as [secret]). */
function exportedOutputs(doc: unknown): unknown {
  const resources = (doc as { deployment?: { resources?: { type?: string; outputs?: unknown }[] } })
    ?.deployment?.resources;
  return resources?.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs ?? {};
}

export function main(args: readonly string[]): number {
  // npm run changes to the package's folder; INIT_CWD is where the operator typed the command.
  const opts = parseArgs(args, process.env.INIT_CWD ?? process.cwd());
  const doc = opts.exportFile
    ? readJson(opts.exportFile, "the stack export")
    : pulumiJson(["stack", "export", "--stack", opts.stack]);
  const outputs = opts.outputsFile
    ? readJson(opts.outputsFile, "the stack outputs")
    : opts.exportFile
      ? exportedOutputs(doc)
      : pulumiJson(["stack", "output", "--json", "--stack", opts.stack]);
  const pkg = readJson(path.join(ROOT, "package.json"), "the npm pins") as {
    dependencies?: Record<string, string>;
  };
  const { report, markdown, json } = renderAudit({
    stack: opts.stack,
    export: doc,
    outputs,
    policy: { rules: RULES, findings: evaluate(policyResources(readExport(doc)), opts.stack) },
    now: new Date(),
    pins: pkg.dependencies ?? {},
  });
  if (opts.format) {
    process.stdout.write(opts.format === "md" ? markdown : json);
    return 0;
  }
  fs.mkdirSync(opts.out, { recursive: true });
  for (const [ext, body] of [
    ["md", markdown],
    ["json", json],
  ] as const) {
    const file = path.join(opts.out, `audit-${opts.stack}.${ext}`);
    fs.writeFileSync(file, body);
    process.stdout.write(`wrote ${file}\n`);
  }
  for (const [label, value] of summaryRows(report)) process.stdout.write(`${label}: ${value}\n`);
  for (const w of report.summary.warnings) process.stdout.write(`warning: ${w}\n`);
  process.stdout.write(`audit of ${opts.stack} in ${process.uptime().toFixed(1)} s\n`);
  return 0;
}
