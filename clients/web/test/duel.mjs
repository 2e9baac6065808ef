// Two players in two headless Chromium tabs play one whole duel on the page brokerlist serves:
// each logs in as a guest, queues, waits for the signal, shoots, and sees the result and rating.
// The first tab speaks ws, the second wss (or both HN_TEST_TRANSPORTS, e.g. "wss,wss").
//
//   HN_PAGE_URL=http://127.0.0.1:PORT/play/ node test/duel.mjs
//
// HN_TEST_CERT_FILE: the brokers' certificate for wss (a test's throwaway local CA): Chromium
// trusts that one key alone (--ignore-certificate-errors-spki-list), not every certificate.
// Every wait is on a condition of the page, with a deadline scaled by HN_TEST_TIME_FACTOR.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

import { chromium } from "playwright-core";

const pageUrl = process.env.HN_PAGE_URL;
if (!pageUrl) {
  console.error("duel.mjs: set HN_PAGE_URL to the page, e.g. http://127.0.0.1:8080/play/");
  process.exit(2);
}
const transports = (process.env.HN_TEST_TRANSPORTS || "ws,wss").split(",");
const factor = Number(process.env.HN_TEST_TIME_FACTOR || "1");
const deadline = (seconds) => seconds * 1000 * factor;

/** base64 SHA-256 of a certificate's public key (SPKI): what Chromium's SPKI list names. */
function spkiHash(pemFile) {
  const key = new X509Certificate(readFileSync(pemFile)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(key).digest("base64");
}

const args = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
];
if (process.env.HN_TEST_CERT_FILE) {
  args.push(`--ignore-certificate-errors-spki-list=${spkiHash(process.env.HN_TEST_CERT_FILE)}`);
}
const browser = await chromium.launch({
  executablePath: process.env.HN_CHROMIUM || "/usr/bin/chromium",
  headless: false, // --headless=new above: Chromium's own headless mode
  args,
  timeout: deadline(60),
});

/** A tab of its own browser context (its own storage: its own guest), at the page. */
async function openTab(transport, problems) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(deadline(30));
  page.on("pageerror", (error) => problems.push(`${transport} tab: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(`${transport} tab console: ${message.text()}`);
    }
  });
  await page.goto(`${pageUrl}?transport=${transport}`);
  return page;
}

async function phase(page, name, timeoutMs) {
  await page.waitForSelector(`body[data-phase="${name}"]`, { timeout: timeoutMs });
}

async function text(page, selector) {
  return (await page.textContent(selector)).trim();
}

/** Each tab's phase and sentences, to see where a failed duel stopped. */
async function describeTabs(tabs) {
  const lines = [];
  for (const [i, page] of tabs.entries()) {
    const state = await page
      .evaluate(() =>
        ["status", "detail", "connection"].map((id) => document.getElementById(id)?.textContent?.trim()),
      )
      .catch((error) => [String(error)]);
    const phaseName = await page.evaluate(() => document.body.dataset.phase).catch(() => "?");
    lines.push(`tab ${i + 1} (${transports[i]}): phase ${phaseName}: ${state.join(" | ")}`);
  }
  return lines.join("\n");
}

const problems = [];
const tabs = [];
try {
  tabs.push(...(await Promise.all(transports.map((transport) => openTab(transport, problems)))));
  await Promise.all(tabs.map((page) => phase(page, "out")));
  // Logged in as guests, each on a broker of its tab's scheme.
  await Promise.all(tabs.map((page) => page.getByRole("button", { name: "Play as a guest" }).click()));
  await Promise.all(tabs.map((page) => phase(page, "lobby")));
  for (const [i, page] of tabs.entries()) {
    const connection = await text(page, "#connection");
    assert.match(connection, new RegExp(`^Connected over ${transports[i]} to ${transports[i]}://`), connection);
    assert.match(await text(page, "#status"), /^Logged in as guest #\d+\. Rating \d+\.$/);
  }
  // Queued, matched with each other, the signal, a shot each.
  await Promise.all(tabs.map((page) => page.getByRole("button", { name: "Find a duel" }).click()));
  await Promise.all(
    tabs.map(async (page) => {
      await phase(page, "signal", deadline(60));
      await page.getByRole("button", { name: "Shoot" }).click();
    }),
  );
  await Promise.all(tabs.map((page) => phase(page, "result")));
  const results = await Promise.all(tabs.map(async (page) => [await text(page, "#status"), await text(page, "#detail")]));
  for (const [status, detail] of results) {
    console.log(`result: ${status} ${detail}`);
    assert.match(detail, /^Verdict: (faster|foul|timeout|draw)\. .*Rating: \d+ → \d+\.$/);
  }
  const headlines = results.map(([status]) => status).sort();
  const verdicts = new Set(results.map(([, detail]) => detail.split(".")[0]));
  assert.equal(verdicts.size, 1, "both tabs show the same verdict");
  assert.ok(
    JSON.stringify(headlines) === JSON.stringify(["You lost.", "You won!"]) ||
      JSON.stringify(headlines) === JSON.stringify(["A draw.", "A draw."]),
    `one winner and one loser, or a draw: ${headlines}`,
  );
  // The lobby's control is back: another duel is one button away.
  for (const page of tabs) {
    assert.ok(await page.getByRole("button", { name: "Find a duel" }).isVisible());
  }
  assert.deepEqual(problems, []);
  console.log(`browser duel: ok over ${transports.join(" and ")}`);
} catch (error) {
  console.error(`browser duel failed: ${error.message}\n${await describeTabs(tabs)}\n${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
