// Issue 15 in the admin UI: the form offers the raw topics the workers
// consume (from `hello`), a subscribe asks for the topic chosen, and every
// row shows the topic its event came from as a small tag.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifacts, axeViolations, demoAndPage, eventually } from "./browser.mjs";

const cleanups = [];
after(async () => { for (const cleanup of cleanups.reverse()) await cleanup(); });

test("the topics choice comes from hello, is sent with subscribe, and rows show their topic", async () => {
  const subscribes = [];
  const { page, errors } = await demoAndPage(cleanups, 50, 1000, (page) =>
    page.on("websocket", (socket) => socket.on("framesent", ({ payload }) => {
      const frame = JSON.parse(String(payload));
      if (frame.type === "subscribe") subscribes.push(frame);
    })));
  // The choice is filled once a socket said hello: open one with a first panel.
  await page.fill("#criterion", "*");
  await page.click("#connect");
  await eventually(async () => (await page.locator("#topics option").allTextContents()).includes("site.payments"),
    15_000, "the demo's raw topics offered");
  assert.deepEqual(await page.locator("#topics option").allTextContents(),
    ["all", "clicks", "site.bookings", "site.pageviews", "site.payments", "site.searches"]);
  assert.equal(subscribes[0].topics, undefined, "all topics: no list sent");

  await page.selectOption("#topics", "site.pageviews");
  const criterion = 'type == "page_view"';
  await page.fill("#criterion", criterion);
  await page.click("#connect");
  const panel = page.locator(".panel", { has: page.locator(".criterion", { hasText: criterion }) });
  await eventually(async () => (await panel.getAttribute("data-filter")) !== null, 15_000, "subscribed");
  assert.deepEqual(subscribes.at(-1).topics, ["site.pageviews"]);
  const tag = panel.locator(".rows .event .topic").first();
  await eventually(async () => (await tag.count()) > 0, 15_000, "a row with its topic tag");
  assert.equal(await tag.textContent(), "site.pageviews");
  assert.match(await tag.getAttribute("class"), /^topic topic-[0-5]$/);
  await page.screenshot({ path: join(artifacts, "ui-topics.png") });
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(errors, []);
});
