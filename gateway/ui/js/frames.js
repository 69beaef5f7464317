// The frames of /ws (docs/protocol.md), one handler per kind: subscribes
// sent a few at a time and their replies, filters replaced or lost, drops,
// stats, history's end, and the events, stored in their panel's rows.

import { thinning } from "./aggregates.js";
import { HELD_MAX, LATENCY_SAMPLES } from "./bounds.js";
import { $ } from "./dom.js";
import { requestDraw } from "./draw.js";
import { hideError, showError, showNotice } from "./form.js";
import { onHeartbeatAck, send } from "./link.js";
import { isHeld, removePanel, showPanelState } from "./panels.js";
import { schema } from "./schema.js";
import { byFilter, byRef, clock, filterKey, link, panels, subscribeQueue } from "./state.js";
import { offerTopics } from "./topics.js";

// ---- frames ---------------------------------------------------------------

let nextRef = 1;                  // the next subscribe's ref: "r1", "r2"...

// Where `event` frames go: through this field, not called by name, so that
// app.js can let a browser test wrap it (window.onEvent, as when app.js was
// one classic script: tests/browser/tests/ui-restart.test.mjs).
export const eventHandler = { onEvent };

export function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      link.inFlightMax = Math.max(1, frame.subscribes_in_flight_max || 4);
      offerTopics(frame.topics);
      break;
    case "subscribed": onSubscribed(frame); break;
    case "subscribe_error": onSubscribeError(frame); break;
    case "event": eventHandler.onEvent(frame); break;
    case "dropped": onDropped(frame); break;
    case "stats": onStats(frame); break;
    case "history_done": onHistoryDone(frame); break;
    case "unsubscribed": byFilter.delete(filterKey(frame.filter)); break;
    case "heartbeat_ack": onHeartbeatAck(frame); break;
    case "filter_replaced": onFilterReplaced(frame); break;
    case "filter_lost": onFilterLost(frame); break;
    // An error answers one request; the session itself is still fine.
    case "error": showNotice(`gateway: ${frame.message}`); break;
  }
}

// Once per panel: not while it waits in the queue, nor while its subscribe
// is in flight on this socket (panels queued before the socket opened are
// sent by the first pump of `onOpened`, before its loop reaches them).
export function queueSubscribe(panel) {
  const inFlight = panel.ref !== null && byRef.get(panel.ref) === panel;
  if (!subscribeQueue.includes(panel) && !inFlight) subscribeQueue.push(panel);
  pumpSubscribes();
}

// At most `subscribes_in_flight_max` (hello) subscribes are sent unanswered.
function pumpSubscribes() {
  if (!link.opened) return;
  while (subscribeQueue.length && byRef.size < link.inFlightMax) {
    const panel = subscribeQueue.shift();
    if (!panels.has(panel.key)) continue;
    const ref = "r" + nextRef++;
    panel.ref = ref;
    byRef.set(ref, panel);
    send(subscribeRequest(panel, ref));
  }
}

// The first subscribe asks for what the form asked (history, "from"). A
// re-subscribe after a reconnect asks, by time travel (`since_ms`), for every
// match since the last event this panel received, so the time the socket was
// away leaves no gap; the seam's duplicates (same ts_ms and event_id) are
// dropped in onEvent. Without any event yet, it asks from when the panel was
// first live. No `history` bound: the gateway's `history_max` applies.
function subscribeRequest(panel, ref) {
  const request = { type: "subscribe", ref, criterion: panel.criterion };
  if (panel.topics) request.topics = panel.topics;
  if (!panel.subscribedOnce) {
    request.history = panel.history;
    if (panel.sinceMs !== null) request.since_ms = panel.sinceMs;
    return request;
  }
  const since = panel.seam.resume() ?? panel.liveSinceMs;
  if (since !== null) {
    request.since_ms = since;
  } else {
    request.history = 0;
  }
  return request;
}

function onSubscribed(frame) {
  const panel = byRef.get(frame.ref);
  byRef.delete(frame.ref);
  pumpSubscribes();
  if (!panel || !panels.has(panel.key)) {
    // Its panel was removed while the subscribe was in flight.
    send({ type: "unsubscribe", filter: frame.filter });
    return;
  }
  panel.ref = null;
  panel.filter = frame.filter;
  panel.liveAbove = 0;
  if (!panel.subscribedOnce) panel.liveSinceMs = Math.round(Date.now() + clock.offsetMs);
  panel.subscribedOnce = true;
  byFilter.set(filterKey(frame.filter), panel);
  panel.root.dataset.filter = frame.filter;
  panel.root.querySelector(".criterion").title = `${panel.criterion} (filter ${frame.filter})`;
  hideError();
  showPanelState(panel);
}

function onSubscribeError(frame) {
  const panel = byRef.get(frame.ref);
  byRef.delete(frame.ref);
  pumpSubscribes();
  if (!panel || !panels.has(panel.key)) return;
  if (frame.column || !panel.subscribedOnce) {
    removePanel(panel);
    showError(panel.criterion, frame.column, frame.message);
  } else {
    panel.ref = null;
    panel.lost = frame.message;
    showPanelState(panel);
  }
}

function onFilterReplaced(frame) {
  const panel = byFilter.get(filterKey(frame.replaces));
  if (!panel) return;
  byFilter.delete(filterKey(frame.replaces));
  panel.filter = frame.filter;
  byFilter.set(filterKey(frame.filter), panel);
  panel.root.dataset.filter = frame.filter;
}

function onFilterLost(frame) {
  const panel = byFilter.get(filterKey(frame.filter));
  if (!panel) return;
  byFilter.delete(filterKey(frame.filter));
  panel.filter = null;
  panel.lost = frame.message;
  showPanelState(panel);
}

// Drops: a `dropped` frame that names a filter is charged to that panel;
// one without (the gateway counts drops per session) is shown once for the
// session, and every panel says its figure is the session's.
function onDropped(frame) {
  if (frame.filter !== undefined && frame.filter !== null) {
    const panel = byFilter.get(filterKey(frame.filter));
    if (panel) panel.dropped = frame.total ?? panel.dropped + frame.count;
    return;
  }
  link.dropsTotal = frame.total ?? link.dropsTotal + frame.count;
  for (const panel of panels.values()) panel.droppedPerSession = link.dropsTotal;
  const drops = $("drops");
  drops.hidden = false;
  drops.textContent = `${link.dropsTotal.toLocaleString()} events dropped by the gateway (this page read too slowly)`;
}

// The workers' true counts of a budgeted filter, once a second: the match
// rate before thinning, and the share of matches delivered (docs/protocol.md).
function onStats(frame) {
  const panel = byFilter.get(filterKey(frame.filter));
  if (!panel || !(frame.window_ms > 0)) return;
  panel.matchRate = frame.matched * 1000 / frame.window_ms;
  panel.sampled = frame.matched > 0 ? Math.min(1, frame.delivered / frame.matched) : 1;
  panel.statsAt = Date.now();
  panel.aggregates.trueRate(frame.matched * 1000 / frame.window_ms);
}

// The end of a subscription's history: how far the scan went.
function onHistoryDone(frame) {
  const panel = byFilter.get(filterKey(frame.filter));
  if (!panel) return;
  const done = panel.root.querySelector(".history-done");
  done.hidden = false;
  const what = panel.seam.resuming ? "missed while reconnecting" : "history";
  panel.seam.resuming = false;
  done.textContent = `${what}: ${Number(frame.matches).toLocaleString()} matches in `
    + `${Number(frame.events_scanned).toLocaleString()} events${frame.complete ? "" : " (incomplete)"}`;
}

// ---- events ---------------------------------------------------------------

function onEvent(frame) {
  const panel = byFilter.get(filterKey(frame.filter));
  if (!panel) return;
  if (!panel.seam.accept(frame)) return;
  panel.count++;
  // Placed when stored (perhaps later, if held): decided now.
  if (frame.history) frame.missed = panel.seam.resuming;
  if (!frame.history) {
    panel.tickArrivals++;
    const now = Date.now() + clock.offsetMs;
    frame.latency_ms = now - frame.ts_ms;
    panel.latencies[panel.latencyNext++ % LATENCY_SAMPLES] = frame.latency_ms;
    // How late this page reads what the gateway sent: its own backlog.
    if (typeof frame.sent_ms === "number") link.pageLagMs = now - frame.sent_ms;
    panel.aggregates.add(frame.event, thinning(panel));
  }
  schema.learn(frame.event);
  if (isHeld(panel)) {
    panel.heldArrivals++;
    panel.held.push(frame);
    if (panel.held.length > HELD_MAX) {
      panel.held.shift();
      panel.heldLost++;
    }
  } else {
    store(panel, frame);
  }
  requestDraw();
}

// History arrives oldest first and after the first live rows of its
// subscribe (a worker's backfill takes a moment), yet is older than all of
// them: a subscribe's history goes to the store's history block, below
// every live row; what a reconnect missed goes below the live rows stored
// since the re-subscribe, above the rows shown before the gap.
export function store(panel, entry) {
  if (!entry.history) {
    panel.store.push(entry);
    panel.liveAbove = Math.min(panel.liveAbove + 1, panel.store.liveSize);
  } else if (entry.missed) {
    panel.store.insertAt(panel.liveAbove, entry);
  } else {
    panel.store.pushHistory(entry);
  }
}
