// Prints the stack's backup policy for a bucket (backupPolicy of
// src/concerns/backup/storage.ts), for scripts/sandbox.sh, which plays the S3 admin of
// the sandbox's bucket: its key gets exactly the policy the stack would make.
// The TypeScript is transpiled with the project's own compiler (scripts/run-ts.js),
// so there is one policy and no copy of it.
// Usage: node scripts/sandbox/backup-policy.js BUCKET
require("../run-ts").register();
const { backupPolicy } = require("../../src/concerns/backup/storage.ts");

const bucket = process.argv[2];
if (!bucket) {
  process.stderr.write("usage: node scripts/sandbox/backup-policy.js BUCKET\n");
  process.exit(2);
}
process.stdout.write(`${backupPolicy(bucket)}\n`);
