// Injected into the bundle by esbuild (scripts/build.mjs): the thrift runtime the SDK uses, and
// the `util` package it requires, refer to Node's globals Buffer and process, which browsers
// lack; the `buffer` and `process` packages (browserify's) stand in for them.
export { Buffer } from "buffer";
export { default as process } from "process/browser.js";
