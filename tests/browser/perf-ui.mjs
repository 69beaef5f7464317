// Issue 13's targets, measured once (not a test: run by hand under the
// bench lock, figures into perf/results/ui.md):
//
//   flock /work/helpers/bench.lock node --experimental-websocket tests/browser/perf-ui.mjs [minutes]
//
// `clicktail demo --rate 5000` (the session budget at its default 1,000/s)
// with `*` and two quiet filters. Chromium is driven over a bare CDP
// connection (no Network domain: playwright would get a CDP event per
// WebSocket frame, and its instrumentation would run on the page's main
// thread). Measured in the page: the longest main-thread task, click-to-act
// (a trusted click's event.timeStamp to the next animation frame after its
// handler ran) of 20 clicks on Pause and 20 on ✕, the page's lag behind the
// gateway (shown latency minus true latency = now - sent_ms), and the JS heap.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { artifacts, freePort, startDemo } from "./tests/browser.mjs";

const minutes = Number(process.argv[2] ?? 5);
const RATE = 5000;
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null;
};

function probes() {
  window.__perf = { longtasks: [], clicks: [] };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__perf.longtasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
  addEventListener("click", (click) => {
    if (!click.isTrusted) return;
    const button = click.target.closest("button");
    const what = button ? button.id || button.className : "?";
    const at = click.timeStamp;
    requestAnimationFrame(() => window.__perf.clicks.push({ what, ms: performance.now() - at }));
  }, true);
}

async function cdp(url) {
  const socket = new WebSocket(url);
  await new Promise((done, fail) => { socket.onopen = done; socket.onerror = fail; });
  let next = 1;
  const waiting = new Map();
  socket.onmessage = (message) => {
    const reply = JSON.parse(message.data);
    if (reply.id && waiting.has(reply.id)) {
      const { done, fail } = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (reply.error) fail(new Error(JSON.stringify(reply.error))); else done(reply.result);
    }
  };
  return {
    send(method, params = {}, sessionId) {
      const id = next++;
      socket.send(JSON.stringify({ id, method, params, sessionId }));
      return new Promise((done, fail) => waiting.set(id, { done, fail }));
    },
    close() { socket.close(); },
  };
}

const demo = await startDemo(await freePort(), RATE, 1000);
const profile = mkdtempSync(join(tmpdir(), "clicktail-perf-"));
const chromium = spawn(process.env.CHROMIUM ?? "/usr/bin/chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", `--user-data-dir=${profile}`,
  "--window-size=1280,860", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });
const browserUrl = await new Promise((done) => {
  let text = "";
  chromium.stderr.on("data", (chunk) => {
    text += chunk;
    const found = /DevTools listening on (ws:\S+)/.exec(text);
    if (found) done(found[1]);
  });
});
const browser = await cdp(browserUrl);
const { targetId } = await browser.send("Target.createTarget", { url: "about:blank" });
const { sessionId } = await browser.send("Target.attachToTarget", { targetId, flatten: true });
const send = (method, params) => browser.send(method, params, sessionId);
const evaluate = async (expression) => {
  const reply = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (reply.exceptionDetails) throw new Error(`${expression.slice(0, 80)}: ${JSON.stringify(reply.exceptionDetails).slice(0, 300)}`);
  return reply.result.value;
};
await send("Page.enable");
await send("Page.addScriptToEvaluateOnNewDocument", { source: `(${probes})()` });
await send("Page.navigate", { url: demo.url + "/" });
await sleep(1500);
for (let i = 0; i < 100 && !(await evaluate("!!document.querySelector('#connect')").catch(() => false)); i++) await sleep(100);

// `trusted`: Connect pressed by a real (CDP) click, measured like Pause and ✕.
async function subscribe(criterion, trusted = false) {
  await evaluate(`document.querySelector("#history").value = "0";
    document.querySelector("#criterion").value = ${JSON.stringify(criterion)};
    ${trusted ? "" : 'document.querySelector("#connect").click();'}`);
  if (trusted) await click("#connect");
  for (let i = 0; i < 100; i++) {
    if (await evaluate(`[...document.querySelectorAll(".panel")].some((p) => p.querySelector(".criterion").textContent === ${JSON.stringify(criterion)} && p.dataset.filter)`)) return;
    await sleep(100);
  }
  throw new Error(`${criterion} not subscribed`);
}

async function click(selector) {
  const box = await evaluate(`(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`);
  for (const type of ["mousePressed", "mouseReleased"]) {
    await send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 });
  }
}

await subscribe('type == "booking"');
await subscribe('user.id == "u-42"');
await subscribe("*");
if (process.env.PERF_PROFILE) {
  // Where the main thread's time goes: self time per function over 10 s.
  await sleep(5000);
  // PERF_PROFILE=nodraw: the same without drawing, to tell the cost of
  // receiving from the cost of drawing.
  if (process.env.PERF_PROFILE === "nodraw") await evaluate("drawing.off = true");
  await send("Profiler.enable");
  await send("Profiler.start");
  await sleep(10_000);
  const { profile } = await send("Profiler.stop");
  const self = new Map();
  const dt = profile.timeDeltas;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const name = `${node.callFrame.functionName || "(anon)"} ${node.callFrame.url.split("/").pop()}:${node.callFrame.lineNumber}`;
    self.set(name, (self.get(name) ?? 0) + (dt[i] ?? 0) / 1000);
  });
  console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([n, ms]) => `${ms.toFixed(0).padStart(6)} ms ${n}`).join("\n"));
}
const started = Date.now();
const heap = [];
const lag = [];
const latency = [];
// Sample once a second for the whole run; the clicks come in the last minute.
const clickAt = Math.max(20_000, minutes * 60_000 - 60_000);
let clicked = false;
await evaluate("window.__perf.longtasks = []");
while (Date.now() - started < minutes * 60_000) {
  await sleep(1000);
  lag.push(await evaluate("link.pageLagMs ?? null"));
  latency.push(await evaluate(`Number(document.querySelector(".panel .latency").textContent.replace(/\\D/g, "")) || null`));
  if (Date.now() - started >= (heap.length + 1) * 60_000) heap.push({ at_s: Math.round((Date.now() - started) / 1000), ...(await send("Runtime.getHeapUsage")) });
  if (!clicked && Date.now() - started > clickAt) {
    clicked = true;
    // `*` is the first panel (the newest is prepended).
    for (let i = 0; i < 20; i++) { await click(".panel .pause"); await sleep(400); }
    for (let i = 0; i < 20; i++) {
      await subscribe(`type == "quiet-${i}"`, true);
      await sleep(300);
      await click(".panel .remove");
      await sleep(300);
    }
  }
}
heap.push({ at_s: Math.round((Date.now() - started) / 1000), ...(await send("Runtime.getHeapUsage")) });
const perf = await evaluate("({ longtasks: window.__perf.longtasks, clicks: window.__perf.clicks, stored: document.querySelector('.panel').dataset.stored })");
const shot = await send("Page.captureScreenshot", { format: "png" });
writeFileSync(join(artifacts, "ui-perf-desktop.png"), Buffer.from(shot.data, "base64"));
await send("Emulation.setDeviceMetricsOverride", { width: 390, height: 844, deviceScaleFactor: 1, mobile: true });
await sleep(1000);
const phone = await send("Page.captureScreenshot", { format: "png" });
writeFileSync(join(artifacts, "ui-perf-phone.png"), Buffer.from(phone.data, "base64"));
const clicksOf = (what) => perf.clicks.filter((c) => c.what.includes(what)).map((c) => c.ms);
const pause = clicksOf("pause"), remove = clicksOf("remove"), connect = clicksOf("connect");
const figures = {
  rate: RATE, minutes, panels: 3, star_rows_stored: Number(perf.stored),
  longtask_max_ms: Math.round(Math.max(0, ...perf.longtasks)), longtasks: perf.longtasks.length,
  pause_clicks: pause.length, pause_click_to_act_p95_ms: Math.round(percentile(pause, 0.95)), pause_max_ms: Math.round(Math.max(...pause)),
  connect_clicks: connect.length, connect_click_to_act_p95_ms: Math.round(percentile(connect, 0.95)), connect_max_ms: Math.round(Math.max(...connect)),
  remove_clicks: remove.length, remove_click_to_act_p95_ms: Math.round(percentile(remove, 0.95)), remove_max_ms: Math.round(Math.max(...remove)),
  page_lag_p50_ms: percentile(lag.filter((v) => v !== null), 0.5), page_lag_p95_ms: percentile(lag.filter((v) => v !== null), 0.95),
  shown_latency_p50_ms: percentile(latency.filter((v) => v !== null), 0.5),
  heap_mb: heap.map((h) => ({ at_s: h.at_s, used: +(h.usedSize / 1e6).toFixed(1), total: +(h.totalSize / 1e6).toFixed(1) })),
};
console.log(JSON.stringify(figures, null, 1));
browser.close();
const chromiumExited = new Promise((done) => chromium.once("exit", done));
chromium.kill();
await chromiumExited;
await demo.stop();
rmSync(profile, { recursive: true, force: true });
process.exit(0);
