// Generates src/gen/ (JavaScript for Node and browsers, with TypeScript declarations) from the
// IDL files a game client speaks, with the Apache Thrift compiler on PATH: the same 0.17 compiler
// the Python services are generated with, whose output the pinned `thrift` npm runtime matches.
// The IDL is read from the repository (HN_IDL_ROOT overrides where the repository is).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(process.env.HN_IDL_ROOT || join(here, "..", "..", ".."));
const out = join(here, "..", "src", "gen");
const COMPILER = "0.17.";
// hn_runtime first: the services' IDL includes it.
const IDL = [
  "libs/hn-runtime/idl/hn_runtime.thrift",
  "services/broker/idl/client.thrift",
  "services/broker/idl/broker.thrift",
  "services/sso/idl/sso.thrift",
  "services/match/idl/match.thrift",
];

let version;
try {
  version = execFileSync("thrift", ["--version"], { encoding: "utf8" }).trim();
} catch (error) {
  console.error(`gen-idl: no thrift compiler on PATH (${error.message}); install Debian's thrift-compiler`);
  process.exit(1);
}
if (!version.includes(` ${COMPILER}`)) {
  console.error(`gen-idl: ${version}: the thrift npm runtime is pinned for compiler ${COMPILER}x`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const file of IDL) {
  execFileSync(
    "thrift",
    ["--gen", "js:node,ts", "-I", join(repo, "libs/hn-runtime/idl"), "-out", out, join(repo, file)],
    { stdio: "inherit" },
  );
}
