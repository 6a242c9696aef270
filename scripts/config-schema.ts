// npm run schema: writes Pulumi.yaml's `config:` block from the concerns'
// settings.ts (src/config/schema.ts). With --check it only says whether the
// file is current, and exits 1 when it is not.
import * as fs from "node:fs";
import * as path from "node:path";
import { CONFIG_KEYS } from "../src/config/keys";
import { withSchema } from "../src/config/schema";

export function main(args: readonly string[]): number {
  const file = path.resolve(__dirname, "..", "Pulumi.yaml");
  const current = fs.readFileSync(file, "utf8");
  const wanted = withSchema(current, CONFIG_KEYS);
  if (current === wanted) {
    console.log("Pulumi.yaml's config block is current");
    return 0;
  }
  if (args.includes("--check")) {
    console.error("Pulumi.yaml's config block differs from src/concerns/*/settings.ts; run: npm run schema");
    return 1;
  }
  fs.writeFileSync(file, wanted);
  console.log("wrote Pulumi.yaml's config block");
  return 0;
}
