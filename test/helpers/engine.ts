// What the tests that drive the real Pulumi engine share: the built toolchain
// on PATH, and the sandbox stack's settings to start from.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as jsyaml from "js-yaml";
import { ROOT } from "../../src/core/template";

/** Fails, saying how to get it, unless the toolchain of scripts/pulumi-env.sh is on PATH. */
export function requireToolchain(): void {
  const r = spawnSync("pulumi", ["version"], { encoding: "utf8" });
  if (r.status !== 0 || process.env.PULUMI_CONFIG_PASSPHRASE === undefined) {
    throw new Error(
      "pulumi is not on PATH. Run the suite with `npm test`, or first: source scripts/pulumi-env.sh",
    );
  }
}

/** A stack file: its passphrase salt and its config, keys with their namespace. */
export interface StackSettings {
  readonly encryptionsalt: string;
  readonly config: Record<string, unknown>;
}

/** Pulumi.sandbox.yaml, whose encrypted values decrypt with the sandbox's public passphrase. */
export function sandboxStackSettings(): StackSettings {
  return jsyaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.sandbox.yaml"), "utf8")) as StackSettings;
}

/** Writes Pulumi.<stack>.yaml next to Pulumi.yaml (before `stack init`, which keeps its salt). */
export function writeStackFile(stack: string, settings: StackSettings): string {
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  fs.writeFileSync(file, jsyaml.dump(settings));
  return file;
}
