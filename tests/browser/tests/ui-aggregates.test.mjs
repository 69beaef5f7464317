// Issue 13, item 6: per panel, a sparkline of the rate over 5 minutes and the
// top values of a chosen field in the last 1 and 5 minutes, corrected by the
// workers' true counts when the filter is thinned to its budget. A demo of
// its own at 1,000 events/s with a budget of 50/s (so `*` is sampled ~5%).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifacts, axeViolations, demoAndPage, eventually } from "./browser.mjs";

const cleanups = [];
after(async () => { for (const cleanup of cleanups.reverse()) await cleanup(); });

const number = (text) => Number(String(text).replace(/[^\d.]/g, ""));

test("a sampled flood: the sparkline and the top values estimate the matches, not the sample", async () => {
  const { page, errors } = await demoAndPage(cleanups, 1000, 50);
  await page.fill("#history", "0");
  await page.fill("#criterion", "*");
  await page.click("#connect");
  const panel = page.locator(".panel").first();
  await eventually(async () => /%$/.test(await panel.locator(".sampled").textContent()), 20_000, "a sampled percentage");
  const deliveredBefore = number(await panel.locator(".count").textContent());
  await panel.locator(".top-field").fill("type");
  await panel.locator(".top-field").press("Enter");
  await panel.locator(".top-field").blur();

  // A few seconds of counts: the peak is the true rate (~1,000/s), not the 50/s delivered.
  await eventually(async () => number(await panel.locator(".spark-peak").textContent()) >= 400, 15_000, "a peak of at least 400/s");
  const points = (await panel.locator(".spark polyline").getAttribute("points")).trim().split(/\s+/);
  assert.ok(points.length >= 2, `sparkline points: ${points}`);
  assert.match(await panel.locator(".spark").getAttribute("aria-label"), /^rate over the last 5 minutes, peak [\d,]+\/s$/);

  await eventually(async () => (await panel.locator(".top-1m li").count()) >= 3, 10_000, "three top values");
  // Each delivered event stands for 1 / sampled matches (~20 here): the
  // estimates add up to far more than what was delivered since the choice.
  let top = [], delivered = 0;
  await eventually(async () => {
    top = await panel.locator(".top-1m li").allTextContents();
    delivered = number(await panel.locator(".count").textContent()) - deliveredBefore;
    const estimated = top.reduce((sum, line) => sum + number(line.split(" ")[1]), 0);
    return delivered >= 50 && estimated > 5 * delivered;
  }, 10_000, "top estimates above 5x what was delivered");
  assert.ok(["page_view", "click", "search"].includes(top[0].split(" ")[0]), `top value ${top[0]}`);
  assert.match(top[0], /^\S+ ≈[\d,]+ \(\d+%\)$/);
  assert.equal(await panel.locator(".top-5m li").count(), await panel.locator(".top-1m li").count());

  await page.screenshot({ path: join(artifacts, "ui-aggregates-desktop.png") });
  await page.setViewportSize({ width: 390, height: 844 });
  await eventually(async () => page.evaluate(() => document.documentElement.scrollWidth <= 390), 2_000, "no sideways scroll");
  await page.screenshot({ path: join(artifacts, "ui-aggregates-phone.png"), fullPage: true });
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(errors, []);
});
