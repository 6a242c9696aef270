// Runs this repo's TypeScript with Node alone, for the operator commands
// (npm run audit): Node 20 cannot strip types and the project ships no
// ts-node. Each .ts file is transpiled when it is required, with the
// project's own `typescript` package; types are checked by `tsc --noEmit`, not
// here. Usage: node scripts/run-ts.js FILE.ts [ARGS...] runs FILE's exported
// main(args), which returns the exit code (or a promise of it).
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

/** Lets require() load .ts files of this repo (idempotent). */
function register() {
  if (require.extensions[".ts"]) return;
  let ts;
  try {
    ts = require(path.join(root, "node_modules", "typescript"));
  } catch {
    throw new Error(
      `no TypeScript compiler in ${root}/node_modules: run npm ci there (with dev dependencies)`,
    );
  }
  require.extensions[".ts"] = (module, filename) => {
    const js = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        resolveJsonModule: true,
      },
      fileName: filename,
    }).outputText;
    module._compile(js, filename);
  };
}

module.exports = { register };

if (require.main === module) {
  const [file, ...args] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node scripts/run-ts.js FILE.ts [ARGS...]\n");
    process.exit(2);
  }
  Promise.resolve()
    .then(() => {
      register();
      return require(path.resolve(file)).main(args);
    })
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err) => {
        // The commands' errors say what to fix; a stack trace would bury that.
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
}
