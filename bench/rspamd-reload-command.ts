// Prints the command a Rspamd config push runs to apply its files, for
// bench/filter-reload.sh, so the bench measures exactly what the stack runs.
// Usage: node scripts/run-ts.js bench/rspamd-reload-command.ts
import { rspamdReloadCommand } from "../src/concerns/filter/render";

export function main(): number {
  process.stdout.write(`${rspamdReloadCommand()}\n`);
  return 0;
}
