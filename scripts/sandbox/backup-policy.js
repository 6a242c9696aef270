// Prints the stack's backup policy for a bucket (backupPolicy of
// components/storage.ts), for scripts/sandbox.sh, which plays the S3 admin of
// the sandbox's bucket: its key gets exactly the policy the stack would make.
// The TypeScript is transpiled with the project's own compiler, so there is
// one policy and no copy of it.
// Usage: node scripts/sandbox/backup-policy.js BUCKET
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const root = path.resolve(__dirname, "../..");
const ts = require(path.join(root, "node_modules", "typescript"));
const file = path.join(root, "components", "storage.ts");
const js = ts.transpileModule(fs.readFileSync(file, "utf8"), {
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  fileName: file,
}).outputText;
const storage = new Module(file, module);
storage.filename = file;
storage.paths = Module._nodeModulePaths(path.dirname(file));
storage._compile(js, file);
const bucket = process.argv[2];
if (!bucket) {
  process.stderr.write("usage: node scripts/sandbox/backup-policy.js BUCKET\n");
  process.exit(2);
}
process.stdout.write(`${storage.exports.backupPolicy(bucket)}\n`);
