// Issue 13, item 4: before a page has seen a single event, its criterion is
// completed from the gateway's sample of recent matches (GET /schema).
// Another page's filter makes the demo deliver bookings; a fresh page, with
// no panel of its own, is offered their paths and values.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, gatewayUrl, axeViolations, eventually } from "./browser.mjs";

let session;
before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

const options = (page) => page.locator("#suggestions [role=option]").allTextContents();

test("a fresh page completes paths and values from the gateway's recent matches", async () => {
  const watcher = await session.browser.newPage();
  await watcher.goto(gatewayUrl + "/");
  await watcher.fill("#criterion", 'type == "booking"');
  await watcher.click("#connect");
  await eventually(async () => Number(await watcher.locator(".panel").getAttribute("data-stored")) >= 3, 30_000,
    "3 bookings delivered");

  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(gatewayUrl + "/");
  await page.locator("#criterion").click();
  await eventually(async () => page.evaluate(() => schema.paths.has("cart.total")), 10_000, "the gateway's sample");
  assert.equal(await page.evaluate(() => panels.size), 0, "this page has no filter and saw no event");
  await page.locator("#criterion").pressSequentially("cart.to");
  assert.ok((await options(page)).includes("cart.total"), `suggested: ${await options(page)}`);
  await page.fill("#criterion", "");
  await page.locator("#criterion").pressSequentially('type == "b');
  assert.ok((await options(page)).includes('"booking"'), `values: ${await options(page)}`);
  // The sample counts as events seen: a misspelt path is warned about.
  await page.fill("#criterion", 'cart.totl > 5');
  assert.deepEqual(await page.locator("#warnings li").allTextContents(),
    ["no event seen so far has cart.totl (did you mean cart.total?)"]);
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(errors, []);
  await page.close();
  await watcher.close();
});
