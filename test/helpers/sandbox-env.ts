// The settings scripts/sandbox.sh writes for the tests that use the sandbox.
import * as fs from "node:fs";
import * as path from "node:path";

/** Where scripts/sandbox.sh keeps its state. */
export const STATE = process.env.MAILSTACK_STATE ?? "/var/lib/mailstack-sandbox";

/** sandbox.env as a map; fails, saying how to start it, when there is no sandbox. */
export function sandboxEnv(): Record<string, string> {
  const file = path.join(STATE, "sandbox.env");
  if (!fs.existsSync(file))
    throw new Error(`no sandbox: ${file} is missing. Start it with: bash scripts/sandbox.sh up`);
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2].replace(/^["']|["']$/g, "");
  }
  return env;
}
