// npm run db-adopt -- --stack NAME [--config FILE]
// Prints the commands that bring an existing mail database and its roles
// under managed mode (README, The mail database, "Switching modes"): the
// `pulumi import` IDs and names come from the spec (src/concerns/database/spec.ts)
// and the resource names MailDatabase gives them (adopt.ts), the tunnel from
// the stack's config, read with `pulumi config --json` (no secret is read).
// It changes nothing itself: the operator runs the commands, one by one.
import * as fs from "node:fs";
import * as path from "node:path";
import { renderAdoption, type StackPlace } from "../src/concerns/database/adopt";
import { parseDatabase } from "../src/concerns/database/settings";
import { DATABASE_SPEC } from "../src/concerns/database/spec";
import { parse as parseHost } from "../src/concerns/host/settings";
import { CONFIG_KEYS } from "../src/config";
import { configKey, makeReader, NAMESPACE } from "../src/core/settings";
import { ROOT } from "../src/core/template";
import { databaseComponentName, MAILSTACK_NAME, MAILSTACK_TYPE } from "../src/mailstack";
import { pulumiJson, readJson } from "./audit/cli";

const USAGE = `usage: npm run db-adopt -- --stack NAME [--config FILE]
  --stack NAME   the stack whose database to adopt (required)
  --config FILE  a saved \`pulumi config --json --stack NAME\` instead of running pulumi`;

/** The keys this reads; a problem with any other key (a secret shown as [secret]) is not its business. */
const READS = ["host", "sshPort", "sshUser", "dbHost", "dbPort", "dbTunnelPort"].map(configKey);

/** `pulumi config --json` as the project's raw config: plain values, and secrets by name only. Pure. */
export function rawConfig(json: unknown): { values: Record<string, string>; secretKeys: Set<string> } {
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(json as Record<string, { value?: unknown; secret?: boolean }>)) {
    if (!k.startsWith(`${NAMESPACE}:`)) continue;
    const short = k.slice(NAMESPACE.length + 1);
    if (v.secret) secretKeys.add(short);
    const value = v.secret ? "[secret]" : v.value;
    if (value !== undefined) values[short] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { values, secretKeys };
}

/** The adoption commands for `stack` with its config (as `pulumi config --json` prints it). Pure. */
export function adoptionFor(stack: string, configJson: unknown, project: string): string {
  const problems: string[] = [];
  const r = makeReader(CONFIG_KEYS, rawConfig(configJson), problems);
  const host = parseHost(r);
  const db = parseDatabase(r);
  const ours = problems.filter((p) => READS.some((k) => p.startsWith(`${k} `)));
  if (ours.length > 0) throw new Error(ours.join("\n"));
  const place: StackPlace = {
    stack,
    project,
    parentTypes: [MAILSTACK_TYPE],
    component: databaseComponentName(MAILSTACK_NAME),
  };
  return renderAdoption(place, DATABASE_SPEC, {
    ...(db.host === undefined ? {} : { dbHost: db.host }),
    ssh: { host: host.ssh.host, port: host.ssh.port, user: host.ssh.user },
    dbPort: db.port,
    tunnelPort: db.tunnelPort,
  });
}

/** The project's name, from Pulumi.yaml: the URNs' second part. */
export function projectName(): string {
  const yaml = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
  const name = /^name: *(\S+)/m.exec(yaml)?.[1];
  if (name === undefined) throw new Error("Pulumi.yaml has no name:");
  return name;
}

export function main(args: readonly string[]): number {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] ?? "";
    const value = args[i + 1];
    if (!["--stack", "--config"].includes(flag))
      throw new Error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
    if (value === undefined || value.startsWith("--")) throw new Error(`${flag} needs a value\n${USAGE}`);
    flags.set(flag, value);
  }
  const stack = flags.get("--stack");
  if (!stack) throw new Error(`--stack is required\n${USAGE}`);
  const file = flags.get("--config");
  // npm run changes to the package's folder; INIT_CWD is where the operator typed the command.
  const config = file
    ? readJson(path.resolve(process.env.INIT_CWD ?? process.cwd(), file), "the stack config")
    : pulumiJson(["config", "--json", "--stack", stack]);
  process.stdout.write(adoptionFor(stack, config, projectName()));
  return 0;
}
