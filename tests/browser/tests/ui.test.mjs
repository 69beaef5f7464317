// The admin UI of a running demo: criterion in, matching events out, and
// errors shown at their column.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, gatewayUrl, artifacts, eventually } from "./browser.mjs";

let session, page;
const consoleErrors = [];

before(async () => {
  session = await launch();
  page = await session.browser.newPage();
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(gatewayUrl + "/");
});

after(async () => {
  await session?.close();
});

test("a criterion streams its matching events, and only those", async () => {
  await page.fill("#criterion", 'type == "search"');
  await page.click("#connect");
  await page.waitForSelector('.panel[data-filter]', { timeout: 10_000 });
  assert.equal(await page.textContent("#status"), "connected");
  // The demo plays ~200 events/s; searches are a few percent of them.
  await eventually(async () => (await page.$$(".panel .event")).length >= 5, 20_000, "5 search events");
  const types = await page.$$eval(".panel .event .type", (cells) => cells.map((cell) => cell.textContent));
  assert.ok(types.length >= 5);
  assert.deepEqual([...new Set(types)], ["search"], `only searches expected, got ${types}`);
  // Expanding an event shows its whole JSON.
  await page.click(".panel .event .line");
  const json = JSON.parse(await page.textContent(".panel .event pre"));
  assert.equal(json.type, "search");
  assert.ok(json.search && typeof json.search.query === "string");
  // The counters are redrawn on a timer, not per frame: wait for the next redraw.
  const counted = async () => Number((await page.textContent(".panel .count")).replace(/\D/g, ""));
  await eventually(async () => (await counted()) >= 5, 5_000, "the counter to reach 5");
  await eventually(async () => /ms$/.test(await page.textContent(".panel .latency")), 5_000, "a latency figure");
});

test("a second filter runs side by side", async () => {
  await page.fill("#criterion", 'type == "page_view" and device.type == "mobile"');
  await page.click("#connect");
  await eventually(async () => (await page.$$(".panel[data-filter]")).length === 2, 10_000, "two panels");
  const second = page.locator(".panel").first();
  await eventually(async () => (await second.locator(".event").count()) >= 3, 20_000, "mobile page views");
  const shown = await second.locator(".event .type").allTextContents();
  assert.deepEqual([...new Set(shown)], ["page_view"]);
  await page.screenshot({ path: join(artifacts, "ui-live.png"), fullPage: true });
});

test("a bad criterion shows its error at its column and registers nothing", async () => {
  const panelsBefore = await page.$$eval(".panel", (panels) => panels.length);
  await page.fill("#criterion", 'type == "booking" and cart.total >');
  await page.click("#connect");
  await page.waitForSelector("#error:not([hidden])", { timeout: 10_000 });
  const column = Number(await page.getAttribute("#error", "data-column"));
  assert.equal(column, 'type == "booking" and cart.total >'.length + 1);
  assert.match(await page.textContent("#error-where"), new RegExp(`\\^ column ${column}`));
  assert.ok((await page.textContent("#error-message")).length > 0);
  assert.ok(await page.$eval("#criterion", (input) => input.classList.contains("invalid")));
  assert.equal(await page.$$eval(".panel", (panels) => panels.length), panelsBefore);
  await page.fill("#criterion", 'user.id === "u-1"');
  await page.click("#connect");
  // The stray third "=" is at byte 11.
  await eventually(async () => Number(await page.getAttribute("#error", "data-column")) === 11, 10_000, "column 11");
  await page.screenshot({ path: join(artifacts, "ui-error.png"), fullPage: true });
});

test("pause holds the list still, disconnect ends the session", async () => {
  const panel = page.locator(".panel").last();
  await panel.locator(".pause").click();
  const firstRows = () => panel.locator(".events .event .line").evaluateAll((lines) => lines.slice(0, 3).map((line) => line.textContent));
  // Rows that arrived before the click are still drawn after it: a busy
  // panel is drawn at most every FLOOD_DRAW_MS (150 ms; ci39 read the rows
  // between the click and that draw). So the list is frozen once two reads
  // 400 ms apart agree, and must then stay so.
  let frozen = await firstRows();
  await eventually(async () => {
    await new Promise((done) => setTimeout(done, 400));
    const now = await firstRows();
    const settled = JSON.stringify(now) === JSON.stringify(frozen);
    frozen = now;
    return settled;
  }, 5_000, "the paused list to settle");
  await new Promise((done) => setTimeout(done, 1500));
  assert.deepEqual(await firstRows(), frozen);
  await panel.locator(".pause").click();
  await page.click("#disconnect");
  await eventually(async () => (await page.textContent("#status")) !== "connected", 5_000, "disconnect");
  assert.deepEqual(consoleErrors, []);
});
