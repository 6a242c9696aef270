// The only place that talks to Pulumi's config system.
import * as pulumi from "@pulumi/pulumi";
import { NAMESPACE } from "../core/settings";
import { parseConfig, type StackConfig } from "./parse";

/** Reads this stack's config from Pulumi and parses it (parseConfig). */
export function loadConfig(): StackConfig {
  // isConfigSecret is exported at run time but missing from the typings.
  const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(k: string): boolean;
  };
  const prefix = `${NAMESPACE}:`;
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (!k.startsWith(prefix)) continue;
    const short = k.slice(prefix.length);
    values[short] = v;
    if (isConfigSecret(k)) secretKeys.add(short);
  }
  return parseConfig({ values, secretKeys });
}
