// Issue 15 in the admin UI: the form offers the raw topics the workers
// consume (from `hello`), a subscribe asks for the topic chosen, and every
// row shows the topic its event came from as a small tag.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifacts, axeViolations, demoAndPage, eventually } from "./browser.mjs";

const cleanups = [];
after(async () => { for (const cleanup of cleanups.reverse()) await cleanup(); });

// A page setup that appends every subscribe the page sends to `subscribes`.
function recordSubscribes(subscribes) {
  return (page) => page.on("websocket", (socket) => socket.on("framesent", ({ payload }) => {
    const frame = JSON.parse(String(payload));
    if (frame.type === "subscribe") subscribes.push(frame);
  }));
}

test("the topics choice comes from hello, is sent with subscribe, and rows show their topic", async () => {
  const subscribes = [];
  const { page, errors } = await demoAndPage(cleanups, 50, 1000, recordSubscribes(subscribes));
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

// The same criterion on another topic is another question: it was refused
// as "already shown", and a reloaded address lost every panel's topic.
test("the same criterion on two topics is two panels, each labelled and kept in the address with its topic", async () => {
  const subscribes = [];
  const { page, errors } = await demoAndPage(cleanups, 50, 1000, recordSubscribes(subscribes));
  const criterion = 'type == "page_view"';
  const panels = page.locator(".panel", { has: page.locator(".criterion", { hasText: criterion }) });
  await page.fill("#criterion", criterion);
  await page.click("#connect");
  await eventually(async () => (await page.locator("#topics option").count()) > 1, 15_000, "the topics offered");
  await page.selectOption("#topics", "site.pageviews");
  await page.fill("#criterion", criterion);
  await page.click("#connect");
  await eventually(async () => (await panels.count()) === 2, 15_000, "a second panel for the second topic");
  assert.equal(await page.locator("#notice").isVisible(), false);
  const onPageviews = panels.filter({ has: page.locator(".panel-topic", { hasText: "site.pageviews" }) });
  assert.equal(await onPageviews.count(), 1, "the panel says its topic");
  assert.equal(await panels.filter({ has: page.locator(".panel-topic:visible") }).count(), 1,
    "the all-topics panel shows no topic");

  // The same criterion and the same topic again: pointed at, not repeated.
  await page.fill("#criterion", criterion);
  await page.click("#connect");
  await eventually(() => page.locator("#notice").isVisible(), 5_000, "the already-shown notice");
  assert.match(await page.locator("#notice").textContent(), /already shown/);
  assert.equal(await panels.count(), 2);

  // The address keeps each panel's topic, and a reload subscribes both again.
  const search = new URL(page.url()).searchParams;
  assert.deepEqual([...search].filter(([name]) => name === "q" || name === "topic"),
    [["q", criterion], ["q", criterion], ["topic", "site.pageviews"]]);
  subscribes.length = 0;
  await page.reload();
  // Each panel subscribed once: two panels opened from an address subscribed
  // the second twice (the socket's open queued it again while it was in flight).
  const subscribed = page.locator(".panel[data-filter]");
  await eventually(async () => (await subscribed.count()) === 2, 15_000, "both panels subscribed after the reload");
  assert.deepEqual(subscribes.map((frame) => [frame.criterion, frame.topics ?? null]).sort(),
    [[criterion, ["site.pageviews"]], [criterion, null]].sort());
  assert.equal(await panels.count(), 2);
  assert.deepEqual(errors, []);
});
