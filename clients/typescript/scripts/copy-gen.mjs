// tsc compiles src/ but does not copy the generated JavaScript beside it: put src/gen/ into
// dist/src/gen/ so the compiled SDK finds the modules (and its declarations their types).
import { cpSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
cpSync(join(root, "src", "gen"), join(root, "dist", "src", "gen"), { recursive: true });
