// Issue 13, item 2: on reconnect every panel re-subscribes with time travel
// (`since_ms`) from the last event it received, and the seam's duplicates
// (the events of that millisecond the panel already has) are not shown
// twice. The socket is cut by a proxy in the page's route, so the demo
// keeps running; the history the workers would send for the gap is
// injected, since this test checks the page, not the workers' scan.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, gatewayUrl, eventually } from "./browser.mjs";

let session;
before(async () => { session = await launch(); });
after(async () => { await session?.close(); });

test("a reconnect re-subscribes with since_ms = the last event's ts_ms, and the seam has no duplicate", async () => {
  const page = await session.browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const connections = []; // { toPage, server, sent: [], received: [] }
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    const connection = { toPage: ws, server, sent: [], received: [], forwarding: true };
    connections.push(connection);
    ws.onMessage((message) => { connection.sent.push(JSON.parse(message)); server.send(message); });
    server.onMessage((message) => {
      if (!connection.forwarding) return;
      connection.received.push(JSON.parse(message));
      ws.send(message);
    });
  });
  await page.goto(gatewayUrl + "/");
  await page.fill("#history", "0");
  await page.fill("#criterion", 'type == "page_view"');
  await page.click("#connect");
  const events = (connection) => connection.received.filter((frame) => frame.type === "event");
  await eventually(async () => connections.length === 1 && events(connections[0]).length >= 20, 15_000, "20 page views");

  // Cut: nothing more reaches the page, then both sides close.
  const first = connections[0];
  first.forwarding = false;
  const last = events(first).reduce((newest, frame) => (frame.ts_ms >= newest.ts_ms ? frame : newest));
  await first.toPage.close();
  await first.server.close();

  await eventually(async () => connections.length === 2 && connections[1].sent.some((f) => f.type === "subscribe"), 10_000,
    "a re-subscribe on a new socket");
  const second = connections[1];
  const resubscribe = second.sent.find((frame) => frame.type === "subscribe");
  assert.equal(resubscribe.criterion, 'type == "page_view"');
  assert.equal(resubscribe.since_ms, last.ts_ms, "since_ms is the last event's ts_ms");
  assert.ok(!("history" in resubscribe), `no history bound: ${JSON.stringify(resubscribe)}`);

  // The workers' answer for the gap: the last event again (the seam), one
  // missed event, then history_done.
  await eventually(async () => second.received.some((frame) => frame.type === "subscribed"), 10_000, "subscribed");
  const filter = second.received.find((frame) => frame.type === "subscribed").filter;
  const missed = { ...last.event, event_id: "e-missed-while-away" };
  for (const frame of [
    { type: "event", filter, ts_ms: last.ts_ms, sent_ms: Date.now(), history: true, event: last.event },
    { type: "event", filter, ts_ms: last.ts_ms + 1, sent_ms: Date.now(), history: true, event: missed },
    { type: "history_done", filter, events_scanned: 500, matches: 2, complete: true },
  ]) await second.toPage.send(JSON.stringify(frame));

  const panel = page.locator(".panel").first();
  await eventually(async () => (await panel.locator(".history-done").textContent()) === "missed while reconnecting: 2 matches in 500 events",
    5_000, "the history line of the reconnect");
  const copies = (id) => page.evaluate((id) => [...panels.values()][0].store.toArray()
    .filter((entry) => entry.event && entry.event.event_id === id).length, id);
  assert.equal(await copies(last.event.event_id), 1, "the seam's event is shown once");
  assert.equal(await copies("e-missed-while-away"), 1, "the missed event is shown");
  assert.deepEqual(errors, []);
  await page.close();
});
