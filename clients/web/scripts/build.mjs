// Bundles the page into dist/ with esbuild: play.js (the page's code, the SDK and the thrift
// runtime for browsers), beside copies of index.html, play.css and icon.svg. dist/ is what brokerlist
// serves under /play/ (HN_BROKERLIST_PAGE_DIR), and nothing else is in it.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
await build({
  entryPoints: [join(root, "src", "play.ts")],
  outfile: join(dist, "play.js"),
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  target: ["es2022"],
  // The thrift runtime uses Node's Buffer and process as globals: packages in their place.
  inject: [join(root, "src", "node-globals.js")],
  // Its browser build also requires `events` and `util`: the packages of those names, from here
  // (the SDK, linked from ../typescript, has its own node_modules without them).
  nodePaths: [join(root, "node_modules")],
  legalComments: "none",
  // The thrift compiler's generated readers repeat a `case 0:` (harmless): not ours to fix.
  logOverride: { "duplicate-case": "silent" },
  logLevel: "warning",
});
for (const file of ["index.html", "play.css", "icon.svg"]) {
  copyFileSync(join(root, "src", file), join(dist, file));
}
