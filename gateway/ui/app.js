// clicktail admin UI: one WebSocket to /ws (docs/protocol.md), one panel per
// filter. Plain browser JavaScript, no build step, no dependency (the
// gateway serves this file from its binary: gateway/src/http/assets.rs).
//
// Why it is shaped this way (issue 13):
// - Frames only update numbers and a bounded row store per panel; the DOM is
//   touched once per animation frame, and only for the rows in view (a
//   virtualized list), so a flood costs a few dozen rows per draw and input
//   (Pause, ✕) is never queued behind a backlog of drawing.
// - A panel is the page's own object, keyed for frames by (connection,
//   filter id): a filter id of another connection can never reach it, so ✕
//   can never unsubscribe someone else's filter.
// - The socket reconnects by itself (backoff with jitter) and re-subscribes
//   every panel with time travel from the last event it received.
// - Help (autocomplete, warnings) and aggregates are computed from the
//   stream itself, sampled and bounded, never from a second request.
"use strict";

// Bounds of the page, so a busy filter can exhaust neither memory nor the main thread.
const STORE_MAX = 1000;           // rows kept per panel to scroll back through; oldest leave
const HISTORY_KEPT_MAX = 1000;    // a subscribe's history rows kept below the live ones
const HELD_MAX = 300;             // arrivals kept while paused or scrolled (newest win)
const ROW_HEIGHT_PX = 26;         // every list row is one line of this height (app.css)
const OVERSCAN_ROWS = 4;          // rows drawn beyond the view, so a scroll shows no blank
const FLOOD_RATE = 50;            // events/s above which a panel is drawn ...
const FLOOD_DRAW_MS = 150;        // ... at most this often: nobody reads faster
const ANIMATE_BELOW_RATE = 5;     // events/s under which a new row is highlighted
const PRETTY_BYTES_MAX = 20000;   // expanded JSON beyond this is cut
const FIELDS_SHOWN_MAX = 200;     // values listed (copy / filter) in an opened row
const LATENCY_SAMPLES = 200;      // window of the latency median
const RATE_TICKS = 20;            // rate window: 20 ticks of 250 ms
const TICK_MS = 250;
const HEARTBEAT_MS = 2000;        // clock samples; also activity for the idle timeout
const CLOCK_SAMPLES = 16;         // round trips the offset is chosen from
const BEHIND_MS = 1000;           // "behind by" shown past this page lag
const RECONNECT_BASE_MS = 250;
// A retry waits at most this: a restarted gateway is serving the page's
// panels again within 5 s (issue 13's target) even on a loaded machine.
const RECONNECT_MAX_MS = 2000;
const STATS_STALE_MS = 3000;      // no stats frame for this long: the filter stopped matching
const SEAM_IDS_MAX = 64;          // event ids remembered at the last timestamp (the resume seam)
const EXPORT_COLUMNS_MAX = 100;   // CSV columns: the first paths seen in the exported rows

const $ = (id) => document.getElementById(id);
const form = $("query-form"), input = $("criterion"), connectButton = $("connect");
const disconnectButton = $("disconnect"), statusBadge = $("status"), panelsBox = $("panels");

// The connection. `generation` grows with every socket, so frames of an old
// socket and filter ids it handed out are never confused with the current ones.
const link = {
  socket: null, generation: 0, wanted: false, opened: false, attempt: 0, retryTimer: null,
  inFlightMax: 4, heartbeatTimer: null, dropsTotal: 0,
};
let nextRef = 1;
let nextPanelKey = 1;
const panels = new Map();         // page-local key -> panel, in creation order
const byFilter = new Map();       // `${generation}/${filter}` -> panel
const byRef = new Map();          // subscribe ref -> panel awaiting its reply
const subscribeQueue = [];        // panels waiting for an in-flight slot
const clock = { offsetMs: 0, samples: [], sentAt: [] };

const params = new URLSearchParams(location.search);
if (params.get("token")) $("token").value = params.get("token");

function setStatus(text, kind) {
  statusBadge.textContent = text;
  statusBadge.className = "status " + kind;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const token = $("token").value;
  return `${scheme}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
}

function filterKey(filter) {
  return `${link.generation}/${filter}`;
}

// ---- connection -----------------------------------------------------------

function openSocket() {
  clearTimeout(link.retryTimer);
  link.retryTimer = null;
  if (link.socket) return;
  link.generation++;
  link.opened = false;
  const ws = new WebSocket(socketUrl());
  link.socket = ws;
  setStatus(link.attempt ? "reconnecting…" : "connecting…", "off");
  ws.onopen = () => onOpened(ws);
  ws.onmessage = (message) => {
    if (link.socket !== ws) return;
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    onFrame(frame);
  };
  ws.onclose = (close) => onClosed(ws, close);
}

function onOpened(ws) {
  if (link.socket !== ws) return;
  link.opened = true;
  link.attempt = 0;
  $("token-row").hidden = true;
  setStatus("connected", "on");
  disconnectButton.disabled = false;
  clock.sentAt = [];
  // Three samples at once give a first offset; then one every HEARTBEAT_MS.
  for (let i = 0; i < 3; i++) sendHeartbeat();
  clearInterval(link.heartbeatTimer);
  link.heartbeatTimer = setInterval(sendHeartbeat, HEARTBEAT_MS);
  for (const panel of panels.values()) queueSubscribe(panel);
  loadGatewaySchema();
}

async function onClosed(ws, close) {
  if (link.socket !== ws) return;
  link.socket = null;
  clearInterval(link.heartbeatTimer);
  const wasOpen = link.opened;
  link.opened = false;
  byFilter.clear();
  byRef.clear();
  subscribeQueue.length = 0;
  for (const panel of panels.values()) {
    panel.filter = null;
    panel.ref = null;
    showPanelState(panel);
  }
  if (!link.wanted) {
    disconnectButton.disabled = panels.size === 0;
    setStatus("disconnected", "off");
    return;
  }
  if (!wasOpen) {
    // The WebSocket API hides the HTTP status of a refused handshake: ask
    // the gateway's /healthz. No answer means it is down, an answer means
    // it refused us (token or origin).
    const reachable = await fetch("/healthz", { cache: "no-store" }).then((r) => r.ok, () => false);
    if (!link.wanted || link.socket) return;
    if (reachable) {
      link.wanted = false;
      $("token-row").hidden = false;
      setStatus("refused: admin token or origin", "bad");
      disconnectButton.disabled = panels.size === 0;
      return;
    }
  }
  scheduleReconnect(wasOpen ? `closed${close.reason ? ": " + close.reason : ""}` : "gateway unreachable");
}

// Exponential backoff with jitter (half fixed, half random), capped so a
// restarted gateway is found again within a few seconds.
function scheduleReconnect(why) {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** link.attempt);
  const delay = ceiling / 2 + Math.random() * ceiling / 2;
  link.attempt++;
  setStatus(`${why} · retrying in ${(delay / 1000).toFixed(1)} s`, "bad");
  disconnectButton.disabled = false;
  link.retryTimer = setTimeout(openSocket, delay);
}

function send(message) {
  if (link.socket && link.socket.readyState === WebSocket.OPEN) {
    link.socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function disconnect() {
  link.wanted = false;
  clearTimeout(link.retryTimer);
  link.retryTimer = null;
  if (link.socket) link.socket.close(1000, "disconnect");
  else { setStatus("disconnected", "off"); disconnectButton.disabled = true; }
}

// ---- clock ----------------------------------------------------------------

function sendHeartbeat() {
  if (send({ type: "heartbeat" })) clock.sentAt.push(Date.now());
}

// NTP's choice: of the recent round trips, the one with the smallest round
// trip time was delayed least by queues, so its midpoint is the best guess
// of when the gateway read its clock.
function onHeartbeatAck(frame) {
  const sent = clock.sentAt.shift();
  if (sent === undefined) return;
  const received = Date.now();
  clock.samples.push({ rtt: received - sent, offset: frame.now_ms - (sent + received) / 2 });
  if (clock.samples.length > CLOCK_SAMPLES) clock.samples.shift();
  let best = clock.samples[0];
  for (const sample of clock.samples) if (sample.rtt < best.rtt) best = sample;
  clock.offsetMs = best.offset;
}

// ---- frames ---------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      link.inFlightMax = Math.max(1, frame.subscribes_in_flight_max || 4);
      offerTopics(frame.topics);
      break;
    case "subscribed": onSubscribed(frame); break;
    case "subscribe_error": onSubscribeError(frame); break;
    case "event": onEvent(frame); break;
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
function queueSubscribe(panel) {
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
function store(panel, entry) {
  if (!entry.history) {
    panel.store.push(entry);
    panel.liveAbove = Math.min(panel.liveAbove + 1, panel.store.liveSize);
  } else if (entry.missed) {
    panel.store.insertAt(panel.liveAbove, entry);
  } else {
    panel.store.pushHistory(entry);
  }
}

// The resume seam: after a re-subscribe with `since_ms` = the last event's
// ts_ms, the history that comes back starts at that millisecond, so the
// events of that millisecond this panel already has come twice; they are
// recognised by event_id (every ingested event has one, docs/protocol.md).
class Seam {
  constructor() {
    this.lastTsMs = null;       // newest ts_ms received
    this.idsAtLast = new Set(); // event ids received at lastTsMs (bounded)
    this.resuming = false;      // a re-subscribe's history is arriving
    this.resumeFromMs = null;   // lastTsMs when the re-subscribe was sent ...
    this.resumeIds = new Set(); // ... and its ids: live events move lastTsMs on meanwhile
  }

  /** The `since_ms` of a re-subscribe (null: nothing received yet). */
  resume() {
    this.resuming = true;
    this.resumeFromMs = null;
    if (this.lastTsMs === null) return null;
    this.resumeFromMs = this.lastTsMs;
    this.resumeIds = new Set(this.idsAtLast);
    return this.lastTsMs;
  }

  accept(frame) {
    const ts = frame.ts_ms, id = field(frame.event, "event_id");
    if (this.resuming && frame.history && this.resumeFromMs !== null) {
      if (ts < this.resumeFromMs) return false;
      if (ts === this.resumeFromMs && id !== undefined && this.resumeIds.has(id)) return false;
    }
    if (typeof ts !== "number") return true;
    if (this.lastTsMs === null || ts > this.lastTsMs) {
      this.lastTsMs = ts;
      this.idsAtLast.clear();
    }
    if (ts === this.lastTsMs && id !== undefined && this.idsAtLast.size < SEAM_IDS_MAX) this.idsAtLast.add(id);
    return true;
  }
}

// ---- the row store --------------------------------------------------------

// A panel's rows, newest first: live rows in a ring of STORE_MAX, then the
// history its subscribe asked for, kept apart (at most HISTORY_KEPT_MAX) so
// that a busy filter's live rows cannot push it out before anyone saw it.
// An entry that leaves without ever having been in view was skipped: the
// panel says how many.
class RowStore {
  constructor(capacity) {
    this.capacity = capacity;
    this.clear();
  }

  /** Live rows plus history rows. */
  get size() {
    return this.liveSize + this.history.length;
  }

  push(entry) {
    if (this.liveSize === this.capacity) {
      if (!this.ring[this.head].seen) this.leftUnseen++;
    } else {
      this.liveSize++;
    }
    this.ring[this.head] = entry;
    this.head = (this.head + 1) % this.capacity;
  }

  /** A history row of the subscribe; they arrive oldest first. */
  pushHistory(entry) {
    if (this.history.length === HISTORY_KEPT_MAX) {
      if (!this.history.shift().seen) this.leftUnseen++;
    }
    this.history.push(entry);
  }

  /** Stores `entry` as the index-th newest live row; older ones move down. */
  insertAt(index, entry) {
    if (index <= 0) return this.push(entry);
    if (index >= this.liveSize) {
      // Older than every live row: it goes last, or leaves at once if full.
      if (this.liveSize === this.capacity) {
        this.leftUnseen++;
      } else {
        this.ring[this.slot(this.liveSize)] = entry;
        this.liveSize++;
      }
      return;
    }
    // Grow (or drop the oldest) by pushing the newest again, then move the
    // entries above `index` up one place; at most STORE_MAX moves.
    this.push(this.at(0));
    for (let i = 1; i < index; i++) this.ring[this.slot(i)] = this.at(i + 1);
    this.ring[this.slot(index)] = entry;
  }

  /** The i-th newest entry (0 = newest). */
  at(i) {
    if (i < this.liveSize) return this.ring[this.slot(i)];
    return this.history[this.history.length - 1 - (i - this.liveSize)];
  }

  slot(i) {
    return (this.head - 1 - i + 2 * this.capacity) % this.capacity;
  }

  /** Oldest first. */
  toArray() {
    const out = [];
    for (let i = this.size - 1; i >= 0; i--) out.push(this.at(i));
    return out;
  }

  clear() {
    this.ring = new Array(this.capacity);
    this.head = 0;
    this.liveSize = 0;
    this.history = [];
    this.leftUnseen = 0;        // entries that left before any draw showed them
  }
}

// ---- panels ---------------------------------------------------------------

function addPanel(criterion, topics, history, sinceMs) {
  const root = $("panel-template").content.firstElementChild.cloneNode(true);
  const panel = {
    key: nextPanelKey++, root, criterion, topics, history, sinceMs, filter: null, ref: null, subscribedOnce: false,
    liveSinceMs: null, seam: new Seam(),
    matchRate: null, sampled: null, statsAt: 0,
    lost: null, count: 0, dropped: 0, droppedPerSession: null, paused: false,
    store: new RowStore(STORE_MAX), liveAbove: 0, held: [], heldArrivals: 0, heldLost: 0, heldReason: null,
    scrolled: false, scrollTopPx: 0, focusInside: false, viewHeight: 300, rendered: new Map(),
    tickArrivals: 0, ticks: [], rate: 0, latencies: [], latencyNext: 0,
    list: root.querySelector(".events"), rows: root.querySelector(".rows"), pinned: root.querySelector(".pinned"),
    aggregates: null, columns: [],
  };
  panel.aggregates = new Aggregates(root);
  root.dataset.key = panel.key;
  labelPanel(panel);
  setUpColumns(panel);
  root.querySelector(".pause").onclick = () => togglePause(panel);
  root.querySelector(".clear").onclick = () => clearPanel(panel);
  root.querySelector(".remove").onclick = () => removePanel(panel);
  root.querySelector(".export-jsonl").onclick = () => exportPanel(panel, "jsonl");
  root.querySelector(".export-csv").onclick = () => exportPanel(panel, "csv");
  root.querySelector(".new-mark").onclick = () => {
    panel.list.scrollTop = 0;
    panel.scrollTopPx = 0;
    panel.scrolled = false;
    if (document.activeElement && panel.list.contains(document.activeElement)) document.activeElement.blur();
    panel.focusInside = false;
    if (panel.paused) togglePause(panel); else requestDraw();
  };
  // The scroll position is read here, where layout is clean, never in a
  // draw: a read after another panel's writes would force a layout per panel.
  panel.list.addEventListener("scroll", () => {
    panel.scrollTopPx = panel.list.scrollTop;
    panel.scrolled = panel.scrollTopPx > ROW_HEIGHT_PX / 2;
    requestDraw();
  }, { passive: true });
  // A row under the keyboard's focus must not change under it: hold the list.
  panel.list.addEventListener("focusin", () => { panel.focusInside = true; });
  panel.list.addEventListener("focusout", (focus) => {
    if (!panel.list.contains(focus.relatedTarget)) { panel.focusInside = false; requestDraw(); }
  });
  new ResizeObserver(() => { panel.viewHeight = panel.list.clientHeight || panel.viewHeight; requestDraw(); })
    .observe(panel.list);
  // One listener per list, not one per row: rows are recycled by the draw.
  for (const list of [panel.rows, panel.pinned]) {
    list.addEventListener("click", (click) => onRowActivated(panel, click));
    list.addEventListener("keydown", (key) => {
      if (key.key === "Enter" || key.key === " ") onRowActivated(panel, key);
    });
  }
  panels.set(panel.key, panel);
  panelsBox.prepend(root);
  $("empty").hidden = true;
  showPanelState(panel);
  updateAddress();
  return panel;
}

// ✕ removes the panel at once; its filter is unsubscribed only if it is a
// filter of the current connection (the key says so).
function removePanel(panel) {
  if (!panels.delete(panel.key)) return;
  panel.root.remove();
  if (panel.filter !== null && byFilter.get(filterKey(panel.filter)) === panel) {
    byFilter.delete(filterKey(panel.filter));
    send({ type: "unsubscribe", filter: panel.filter });
  }
  const queued = subscribeQueue.indexOf(panel);
  if (queued >= 0) subscribeQueue.splice(queued, 1);
  $("empty").hidden = panels.size > 0;
  if (!panels.size && !link.socket) disconnectButton.disabled = true;
  updateAddress();
}

function showPanelState(panel) {
  const state = panel.root.querySelector(".state");
  let text = "";
  if (panel.lost) text = `filter lost: ${panel.lost}`;
  else if (panel.filter === null) text = link.opened ? "subscribing…" : "waiting for the gateway…";
  else if (panel.paused) text = `paused · ${panel.heldArrivals.toLocaleString()} arrived since`;
  state.textContent = text;
  panel.root.classList.toggle("stopped", panel.filter === null);
}

function isHeld(panel) {
  return panel.paused || panel.scrolled || panel.focusInside;
}

function togglePause(panel) {
  panel.paused = !panel.paused;
  panel.root.classList.toggle("paused", panel.paused);
  panel.root.querySelector(".pause").textContent = panel.paused ? "Resume" : "Pause";
  if (panel.paused) panel.heldReason = "paused";
  showPanelState(panel);
  requestDraw();
}

// What arrived while the list was held joins it, newest on top; what the
// bound let go is a gap row at its place (and a line, since the place may
// be out of view).
function release(panel) {
  if (panel.heldLost > 0) {
    const paused = panel.heldReason === "paused";
    const text = `${panel.heldLost.toLocaleString()} events arrived while ${paused ? "paused" : "you looked at older rows"} and were not kept`;
    store(panel, { gap: text, seen: false });
    const note = panel.root.querySelector(".gap");
    note.hidden = false;
    note.textContent = text;
  }
  for (const frame of panel.held) store(panel, frame);
  panel.held = [];
  panel.heldArrivals = 0;
  panel.heldLost = 0;
  panel.heldReason = null;
}

function clearPanel(panel) {
  panel.store.clear();
  panel.liveAbove = 0;
  panel.held = [];
  panel.count = 0;
  panel.dropped = 0;
  panel.heldArrivals = 0;
  panel.heldLost = 0;
  panel.latencies = [];
  panel.latencyNext = 0;
  panel.ticks = [];
  panel.tickArrivals = 0;
  panel.aggregates.clear();
  panel.root.querySelector(".gap").hidden = true;
  showPanelState(panel);
  requestDraw();
}

// ---- drawing: a virtualized list -----------------------------------------

let drawRequested = false;
function requestDraw() {
  if (drawRequested) return;
  drawRequested = true;
  requestAnimationFrame(draw);
}

// A flooded panel waits for its turn on a timer, not by asking for every
// animation frame: each frame asked for costs the browser a frame's work.
let drawTimer = null;
function draw(now) {
  drawRequested = false;
  let waitMs = Infinity;
  for (const panel of panels.values()) {
    const dueIn = FLOOD_DRAW_MS - (now - (panel.drawnAt ?? -Infinity));
    if (panel.rate > FLOOD_RATE && dueIn > 0) {
      waitMs = Math.min(waitMs, dueIn);
      continue;
    }
    panel.drawnAt = now;
    drawPanel(panel);
  }
  if (waitMs !== Infinity && drawTimer === null) {
    drawTimer = setTimeout(() => { drawTimer = null; requestDraw(); }, waitMs);
  }
}

// The list is a tall empty box (one ROW_HEIGHT_PX per stored row) with only
// the rows in view drawn in it, recycled from a pool of <li>.
function drawPanel(panel) {
  const held = isHeld(panel);
  if (!held && (panel.held.length || panel.heldLost)) release(panel);
  if (held && panel.heldReason == null) panel.heldReason = panel.paused ? "paused" : "scrolled";
  const mark = panel.root.querySelector(".new-mark");
  const markHidden = !held || panel.heldArrivals === 0;
  if (mark.hidden !== markHidden) mark.hidden = markHidden;
  if (!markHidden) mark.textContent = `${panel.heldArrivals.toLocaleString()} new ↑`;
  if (panel.paused) showPanelState(panel);

  const store = panel.store;
  const height = store.size * ROW_HEIGHT_PX;
  if (panel.rows.style.height !== `${height}px`) panel.rows.style.height = `${height}px`;
  const top = panel.scrollTopPx;
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT_PX) - OVERSCAN_ROWS);
  const last = Math.min(store.size, Math.ceil((top + panel.viewHeight) / ROW_HEIGHT_PX) + OVERSCAN_ROWS);
  const animate = panel.rate < ANIMATE_BELOW_RATE;
  // Keyed by entry: a row that stays in view keeps its element (and focus,
  // and the pointer over it); only rows entering the view are filled.
  const next = new Map();
  for (let i = first; i < last; i++) next.set(store.at(i), i);
  const spare = [];
  for (const [entry, item] of panel.rendered) if (!next.has(entry)) spare.push(item);
  const rendered = new Map();
  for (const [entry, i] of next) {
    let item = panel.rendered.get(entry);
    if (!item) {
      item = spare.pop() ?? panel.rows.appendChild(document.createElement("li"));
      item.topPx = null;
      fillRow(item, entry, animate && !entry.seen, panel.columns);
      item.entry = entry;
    }
    if (item.topPx !== i * ROW_HEIGHT_PX) {
      item.topPx = i * ROW_HEIGHT_PX;
      item.style.top = `${item.topPx}px`;
    }
    entry.seen = true;
    rendered.set(entry, item);
  }
  for (const item of spare) item.remove();
  panel.rendered = rendered;
  // The DOM order is the order on screen, newest first, for reading and Tab;
  // rows that kept their place are not moved (a move would drop focus).
  let cursor = panel.rows.firstChild;
  for (const item of rendered.values()) {
    if (item === cursor) cursor = cursor.nextSibling;
    else panel.rows.insertBefore(item, cursor);
  }

  const skippedCount = store.leftUnseen;
  if (panel.skippedShown !== skippedCount) {
    panel.skippedShown = skippedCount;
    const skipped = panel.root.querySelector(".skipped");
    skipped.hidden = skippedCount === 0;
    skipped.textContent = `${skippedCount.toLocaleString()} not drawn (too many to show; newest shown)`;
  }
  if (panel.root.dataset.stored !== String(store.size)) panel.root.dataset.stored = store.size;
}

function field(value, ...path) {
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[key];
  }
  return value;
}

function pad(n, width) { return String(n).padStart(width, "0"); }
function clockTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}

// One line per row; a gap entry is a line of its own kind.
function fillRow(item, entry, animate, columns) {
  item.textContent = "";
  if (entry.gap) {
    item.className = "gap";
    item.textContent = entry.gap;
    return;
  }
  item.className = "event" + (entry.history ? " history" : "") + (animate ? " fresh" : "");
  item.append(rowLine(entry, columns));
}

function rowLine(frame, columns) {
  const event = frame.event;
  const line = document.createElement("div");
  line.className = "line";
  line.tabIndex = 0;
  line.setAttribute("role", "button");
  line.setAttribute("aria-expanded", "false");
  const cell = (cls, text) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text ?? "";
    line.append(span);
  };
  cell("time", clockTime(frame.ts_ms));
  cell("type", String(field(event, "type") ?? "event"));
  cell("who", String(field(event, "user", "id") ?? field(event, "anonymous_id") ?? "anonymous"));
  cell("what", String(field(event, "page", "path") ?? field(event, "search", "query") ?? ""));
  for (const column of columns) columnCell(line, column, event);
  cell("lat", frame.history ? "history" : `${Math.max(0, Math.round(frame.latency_ms))} ms`);
  topicTag(line, frame);
  return line;
}

// ---- topics (issue 15) ------------------------------------------------------

// The raw topics the workers consume, from `hello`: the "topics" choice of
// the form ("all", or one topic). The choice made is kept across reconnects.
function offerTopics(topics) {
  const select = $("topics");
  if (!select || !Array.isArray(topics)) return;
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const topic of topics) select.append(new Option(topic, topic));
  select.value = topics.includes(chosen) ? chosen : "";
}

// What the form asks for: `null` is every topic.
function chosenTopics() {
  const value = $("topics")?.value;
  return value ? [value] : null;
}

// The event's source topic as a small tag before its latency; a class per
// topic (`topic-0`..`topic-5`, by name) gives each its color.
function topicTag(line, frame) {
  if (typeof frame.topic !== "string") return;
  const tag = document.createElement("span");
  tag.className = `topic topic-${topicColor(frame.topic)}`;
  tag.textContent = frame.topic;
  tag.title = `from topic ${frame.topic}`;
  line.insertBefore(tag, line.querySelector(".lat"));
}

function topicColor(topic) {
  let hash = 0;
  for (const char of topic) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 6;
}

function onRowActivated(panel, activation) {
  const line = activation.target.closest(".line");
  if (!line) return;
  activation.preventDefault();
  const item = line.parentElement;
  if (panel.pinned.contains(item)) { item.remove(); return; }
  if (item.entry) openDetails(panel, item.entry);
}

// An opened row is a copy in the panel's pinned list, where no newer row
// pushes it out; activating its line again closes it.
function openDetails(panel, frame) {
  const item = document.createElement("li");
  item.className = "event" + (frame.history ? " history" : "");
  const line = rowLine(frame, panel.columns);
  line.setAttribute("aria-expanded", "true");
  item.append(line);
  let text = JSON.stringify(frame.event, null, 2);
  let cut = 0;
  if (text.length > PRETTY_BYTES_MAX) {
    cut = text.length - PRETTY_BYTES_MAX;
    text = text.slice(0, PRETTY_BYTES_MAX);
  }
  const tools = document.createElement("div");
  tools.className = "detail-tools";
  const copyJson = button("Copy JSON", "copy-json");
  copyJson.onclick = () => copyText(JSON.stringify(frame.event), "the event's JSON");
  tools.append(copyJson, ` received ${new Date(frame.ts_ms).toISOString()}`);
  item.append(tools);
  const pre = document.createElement("pre");
  pre.textContent = text;
  pre.tabIndex = 0; // scrollable, so reachable from the keyboard
  item.append(pre);
  if (cut) {
    const note = document.createElement("div");
    note.className = "truncated";
    note.textContent = `… ${cut} more characters not shown`;
    item.append(note);
  }
  item.append(fieldsTable(panel, frame.event));
  panel.pinned.prepend(item);
  line.focus({ preventScroll: true });
}

function button(text, cls, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  return b;
}

// Every value of the event with its path: copy it, filter by it (a new
// panel), or narrow this panel by it (added to its criterion).
function fieldsTable(panel, event) {
  const table = document.createElement("table");
  table.className = "fields";
  const caption = document.createElement("caption");
  caption.textContent = "Values";
  table.append(caption);
  const leaves = [];
  walkLeaves(event, [], leaves, FIELDS_SHOWN_MAX);
  for (const { keys, value } of leaves) {
    const path = filterPath(keys);
    const shown = path ?? keys.join(".");
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = shown;
    const td = document.createElement("td");
    td.textContent = typeof value === "string" ? value : JSON.stringify(value);
    const actions = document.createElement("td");
    const copy = button("Copy", "copy-value", `Copy ${shown}`);
    copy.onclick = () => copyText(td.textContent, shown);
    actions.append(copy);
    if (path !== null) {
      const criterion = `${path} == ${filterLiteral(value)}`;
      const filter = button("Filter", "filter-value", `Filter by ${criterion}`);
      filter.onclick = () => startPanel(criterion, panel.topics, 0, null);
      const narrow = button("Narrow", "narrow-value", `Narrow this panel to ${criterion}`);
      narrow.onclick = () => narrowPanel(panel, criterion);
      actions.append(" ", filter, " ", narrow);
    }
    tr.append(th, td, actions);
    table.append(tr);
  }
  return table;
}

// Leaves (strings, numbers, booleans, null) with the keys that lead to them.
// A step over an array keeps the path (docs/filters.md: a path applies to
// every element), so `tags == "x"` matches an element of `tags`.
function walkLeaves(value, keys, out, max) {
  if (out.length >= max) return;
  if (Array.isArray(value)) {
    for (const element of value) walkLeaves(element, keys, out, max);
  } else if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) walkLeaves(inner, [...keys, key], out, max);
  } else if (keys.length) {
    out.push({ keys, value });
  }
}

const SEGMENT = /^[A-Za-z_$@][A-Za-z0-9_$@-]*$/;

// A path in the filter language (docs/filters.md): bare segments joined by
// dots, a key that is not a segment written `["key"]`. The first key must be
// bare and not `not`, so some root keys cannot be written: null then.
function filterPath(keys) {
  if (!keys.length || !SEGMENT.test(keys[0]) || keys[0].toLowerCase() === "not") return null;
  let path = keys[0];
  for (const key of keys.slice(1)) path += SEGMENT.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return path;
}

// A literal: JSON's string escapes and number grammar are the language's.
function filterLiteral(value) {
  return JSON.stringify(value);
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an insecure origin): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("aria-hidden", "true");
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  showNotice(`copied ${what}`);
}

// ---- export ---------------------------------------------------------------

// The panel's stored rows, oldest first: one event per line, or a CSV with
// a column per path (the first EXPORT_COLUMNS_MAX seen) after the time.
function exportPanel(panel, format) {
  const frames = panel.store.toArray().filter((entry) => !entry.gap);
  let body, type;
  if (format === "jsonl") {
    body = frames.map((frame) => JSON.stringify(frame.event)).join("\n") + (frames.length ? "\n" : "");
    type = "application/x-ndjson";
  } else {
    body = toCsv(frames);
    type = "text/csv";
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([body], { type }));
  link.download = `clicktail-${panel.criterion.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 60) || "panel"}.${format === "jsonl" ? "jsonl" : "csv"}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  showNotice(`exported ${frames.length.toLocaleString()} events`);
}

function csvCell(text) {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(frames) {
  const columns = new Map(); // path -> column index
  const rows = frames.map((frame) => {
    const cells = {};
    flattenForCsv(frame.event, "", cells);
    for (const path of Object.keys(cells)) {
      if (!columns.has(path) && columns.size < EXPORT_COLUMNS_MAX) columns.set(path, columns.size);
    }
    return { time: new Date(frame.ts_ms).toISOString(), cells };
  });
  const header = ["ts", ...columns.keys()];
  const lines = [header.map(csvCell).join(",")];
  for (const { time, cells } of rows) {
    lines.push([time, ...[...columns.keys()].map((path) => cells[path] ?? "")].map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

// Objects are walked; an array or a scalar is one cell (strings as they are,
// the rest as JSON). A non-object event is one column, `event`.
function flattenForCsv(value, prefix, cells) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flattenForCsv(inner, prefix ? `${prefix}.${key}` : key, cells);
    return;
  }
  cells[prefix || "event"] = typeof value === "string" ? value : JSON.stringify(value);
}

// ---- live aggregates ------------------------------------------------------

const SPARK_SECONDS = 300;        // the sparkline's window
const TOP_DISTINCT_MAX = 200;     // distinct values counted per second; the rest are "(other)"
const TOP_TOTAL_DISTINCT_MAX = 2000; // distinct values counted over the 5 minutes
const TOP_SHOWN = 5;

// The keys of a path written as in the filter language (`user.id`,
// `props["utm.source"]`); null for an empty or unreadable one.
function parsePath(text) {
  const keys = [];
  const step = /\s*(?:(^|\.)\s*([A-Za-z_$@][A-Za-z0-9_$@-]*)|\[\s*("(?:[^"\\]|\\.)*")\s*\])/y;
  let at = 0;
  text = text.trim();
  while (at < text.length) {
    step.lastIndex = at;
    const found = step.exec(text);
    if (!found || (found[2] !== undefined && found[1] === "" && at > 0)) return null;
    try { keys.push(found[2] ?? JSON.parse(found[3])); } catch { return null; }
    at = step.lastIndex;
  }
  return keys.length ? keys : null;
}

// Per panel: events per second over 5 minutes (the workers' true rate when
// stats frames come, since a thinned filter delivers a sample), and the top
// values of a chosen field in the last 1 and 5 minutes, each count weighted
// by 1 / the sampled fraction at its arrival (so they estimate matches).
class Aggregates {
  constructor(root) {
    this.root = root;
    this.delivered = new Float64Array(SPARK_SECONDS);
    this.matched = new Float64Array(SPARK_SECONDS).fill(NaN);
    this.second = Math.floor(Date.now() / 1000);
    this.path = null;           // the chosen field's keys
    this.buckets = new Map();   // second -> Map(value -> weight)
    this.lastMinute = new Map();
    this.lastFive = new Map();
    this.weighted = false;      // some count was scaled up by sampling
    const choice = root.querySelector(".top-field");
    choice.addEventListener("change", () => this.choose(choice.value.trim()));
  }

  choose(text) {
    this.path = parsePath(text);
    this.buckets.clear();
    this.lastMinute.clear();
    this.lastFive.clear();
    this.weighted = false;
    this.render();
  }

  clear() {
    this.delivered.fill(0);
    this.matched.fill(NaN);
    this.choose(this.path ? filterPath(this.path) ?? "" : "");
  }

  advance(now) {
    const second = Math.floor(now / 1000);
    for (let s = this.second + 1; s <= second && s <= this.second + SPARK_SECONDS; s++) {
      this.delivered[s % SPARK_SECONDS] = 0;
      this.matched[s % SPARK_SECONDS] = NaN;
    }
    for (let s = this.second + 1; s <= second; s++) {
      this.expire(s - 60, this.lastMinute);
      this.expire(s - SPARK_SECONDS, this.lastFive);
      this.buckets.delete(s - SPARK_SECONDS);
    }
    if (second - this.second > SPARK_SECONDS) {
      this.buckets.clear(); this.lastMinute.clear(); this.lastFive.clear();
    }
    this.second = Math.max(this.second, second);
  }

  expire(second, totals) {
    const bucket = this.buckets.get(second);
    if (!bucket) return;
    for (const [value, weight] of bucket) {
      const left = (totals.get(value) ?? 0) - weight;
      if (left > 1e-9) totals.set(value, left); else totals.delete(value);
    }
  }

  add(event, weight) {
    this.advance(Date.now());
    this.delivered[this.second % SPARK_SECONDS]++;
    if (!this.path) return;
    if (weight > 1) this.weighted = true;
    const values = [];
    walkLeaves(field(event, ...this.path), this.path, values, 16);
    let bucket = this.buckets.get(this.second);
    if (!bucket) { bucket = new Map(); this.buckets.set(this.second, bucket); }
    for (const { value } of values.length ? values : [{ value: undefined }]) {
      let key = value === undefined ? "(missing)" : typeof value === "string" ? value : JSON.stringify(value);
      // Bounded twice: per second, and in all (a field like event_id is
      // all distinct; sorting its values each second would be a long task).
      if ((!bucket.has(key) && bucket.size >= TOP_DISTINCT_MAX)
        || (!this.lastFive.has(key) && this.lastFive.size >= TOP_TOTAL_DISTINCT_MAX)) key = "(other)";
      bucket.set(key, (bucket.get(key) ?? 0) + weight);
      this.lastMinute.set(key, (this.lastMinute.get(key) ?? 0) + weight);
      this.lastFive.set(key, (this.lastFive.get(key) ?? 0) + weight);
    }
  }

  trueRate(perSecond) {
    this.advance(Date.now());
    this.matched[this.second % SPARK_SECONDS] = perSecond;
  }

  // Once a second, from the tick.
  render() {
    this.advance(Date.now());
    const points = [];
    let peak = 0;
    const values = [];
    for (let i = 0; i < SPARK_SECONDS; i++) {
      const s = this.second - SPARK_SECONDS + 1 + i;
      const slot = ((s % SPARK_SECONDS) + SPARK_SECONDS) % SPARK_SECONDS;
      // The current second is still filling: it would always dip.
      const value = s === this.second ? NaN : (Number.isNaN(this.matched[slot]) ? this.delivered[slot] : this.matched[slot]);
      values.push(value);
      if (value > peak) peak = value;
    }
    const scale = peak > 0 ? 28 / peak : 0;
    values.forEach((value, i) => { if (!Number.isNaN(value)) points.push(`${i},${(30 - 1 - value * scale).toFixed(1)}`); });
    const spark = this.root.querySelector(".spark");
    spark.querySelector("polyline").setAttribute("points", points.join(" "));
    spark.setAttribute("aria-label", `rate over the last 5 minutes, peak ${formatRate(peak)}`);
    this.root.querySelector(".spark-peak").textContent = `peak ${formatRate(peak)}`;
    this.renderTop(this.root.querySelector(".top-1m"), this.lastMinute);
    this.renderTop(this.root.querySelector(".top-5m"), this.lastFive);
  }

  renderTop(list, totals) {
    list.textContent = "";
    if (!this.path) return;
    const sum = [...totals.values()].reduce((a, b) => a + b, 0);
    const top = [...totals].sort((a, b) => b[1] - a[1]).slice(0, TOP_SHOWN);
    for (const [value, weight] of top) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "value";
      name.textContent = value;
      const count = document.createElement("span");
      count.className = "n";
      count.textContent = `${this.weighted ? "≈" : ""}${Math.round(weight).toLocaleString()} (${Math.round(weight * 100 / sum)}%)`;
      item.append(name, " ", count);
      list.append(item);
    }
  }
}

// The weight of one delivered event: 1 / the share delivered, while the
// workers thin the filter (fresh stats); 1 otherwise.
function thinning(panel) {
  if (panel.sampled === null || !(panel.sampled > 0) || Date.now() - panel.statsAt > STATS_STALE_MS) return 1;
  return 1 / panel.sampled;
}

// ---- counters -------------------------------------------------------------

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Counters refresh four times a second, not per event; aggregates once a second.
let ticksSeen = 0;
setInterval(() => {
  let total = 0;
  const aggregatesDue = ticksSeen++ % 4 === 0;
  for (const panel of panels.values()) {
    panel.ticks.push(panel.tickArrivals);
    panel.tickArrivals = 0;
    if (panel.ticks.length > RATE_TICKS) panel.ticks.shift();
    panel.rate = panel.ticks.reduce((sum, n) => sum + n, 0) / (panel.ticks.length * TICK_MS / 1000);
    const p50 = median(panel.latencies);
    const q = (cls) => panel.root.querySelector(cls);
    q(".count").textContent = panel.count.toLocaleString();
    q(".rate").textContent = (panel.rate >= 10 ? panel.rate.toFixed(0) : panel.rate.toFixed(1)) + "/s";
    const dropped = panel.droppedPerSession ?? panel.dropped;
    q(".dropped").textContent = dropped.toLocaleString() + (panel.droppedPerSession !== null ? " (session)" : "");
    q(".dropped").classList.toggle("some", dropped > 0);
    q(".latency").textContent = p50 === null ? "–" : `${Math.max(0, Math.round(p50))} ms`;
    showTrueRate(panel, q);
    if (aggregatesDue) panel.aggregates.render();
    total += panel.count;
  }
  const behind = link.opened && link.pageLagMs > BEHIND_MS;
  $("totals").textContent = (panels.size ? `${panels.size} filter(s) · ${total.toLocaleString()} events` : "")
    + (behind ? ` · behind by ${(link.pageLagMs / 1000).toFixed(1)} s` : "");
  if (aggregatesDue) schema.refreshPathList();
}, TICK_MS);

function formatRate(rate) {
  return (rate >= 10 ? Math.round(rate).toLocaleString() : rate.toFixed(1)) + "/s";
}

// "–" until the first stats frame (an unlimited filter never gets one).
function showTrueRate(panel, q) {
  if (panel.matchRate === null) return;
  const stale = Date.now() - panel.statsAt > STATS_STALE_MS;
  const thinned = !stale && panel.sampled < 1;
  q(".matching").textContent = formatRate(stale ? 0 : panel.matchRate);
  const percent = panel.sampled * 100;
  q(".sampled").textContent = !thinned ? "all" : (percent >= 10 ? percent.toFixed(0) : percent.toPrecision(2)) + "%";
  q(".sampled").classList.toggle("thinned", thinned);
}

// ---- what the events look like: paths and frequent values ----------------

const SCHEMA_LEARN_PER_TICK = 10; // events learned from per 250 ms, whatever the rate
const SCHEMA_PATHS_MAX = 400;
const SCHEMA_VALUES_MAX = 40;     // distinct values kept per path
const SCHEMA_VALUE_CHARS_MAX = 80;
const SCHEMA_MIN_EVENTS = 20;     // "never seen" is said only after this many events
const SUGGESTIONS_MAX = 8;

// Learned from a sample of the events all panels receive (a few dozen a
// second): the paths that exist, their JSON types and their frequent values.
const schema = {
  paths: new Map(),   // path -> { types: Set, values: Map(literal -> count) }
  events: 0,
  budget: SCHEMA_LEARN_PER_TICK,
  listed: 0,          // paths in the <datalist> of fields

  learn(event) {
    if (this.budget <= 0) return;
    this.budget--;
    this.events++;
    const leaves = [];
    walkLeaves(event, [], leaves, 200);
    for (const { keys, value } of leaves) {
      const path = filterPath(keys);
      if (path === null) continue;
      let known = this.paths.get(path);
      if (!known) {
        if (this.paths.size >= SCHEMA_PATHS_MAX) continue;
        known = { types: new Set(), values: new Map() };
        this.paths.set(path, known);
      }
      known.types.add(value === null ? "null" : typeof value);
      if (typeof value === "string" && value.length > SCHEMA_VALUE_CHARS_MAX) continue;
      const literal = filterLiteral(value);
      if (known.values.has(literal) || known.values.size < SCHEMA_VALUES_MAX) {
        known.values.set(literal, (known.values.get(literal) ?? 0) + 1);
      }
    }
  },

  // Called from the tick: the learning budget refills, new paths are offered.
  refreshPathList() {
    this.budget = SCHEMA_LEARN_PER_TICK;
    if (this.paths.size === this.listed) return;
    this.listed = this.paths.size;
    const list = $("field-paths");
    list.textContent = "";
    for (const path of [...this.paths.keys()].sort()) {
      const option = document.createElement("option");
      option.value = path;
      list.append(option);
    }
  },
};

// ---- autocomplete ---------------------------------------------------------

// What the word at the cursor could become: a path (at the start of an
// operand), or a value of the path just compared with `==`, `!=`, `in [`...
function suggestionsAt(text, caret) {
  const before = text.slice(0, caret);
  const valueContext = /([A-Za-z_$@][\w$@.-]*(?:\["(?:[^"\\]|\\.)*"\])*)\s*(?:==|=|!=|in\s*\[(?:[^\]]*,)?|startswith|endswith|contains)\s*("(?:[^"\\]|\\.)*|[\w.-]*)$/i.exec(before);
  if (valueContext) {
    const known = schema.paths.get(valueContext[1]);
    if (!known) return null;
    const typed = valueContext[2];
    const values = [...known.values].sort((a, b) => b[1] - a[1]).map(([literal]) => literal)
      .filter((literal) => literal.startsWith(typed) && literal !== typed);
    return { start: caret - typed.length, options: values.slice(0, SUGGESTIONS_MAX) };
  }
  const pathContext = /(^|[\s(!,])([A-Za-z_$@][\w$@.-]*)$/.exec(before);
  if (!pathContext) return null;
  const typed = pathContext[2];
  const paths = [...schema.paths.keys()].filter((path) => path.startsWith(typed) && path !== typed).sort();
  return { start: caret - typed.length, options: paths.slice(0, SUGGESTIONS_MAX) };
}

const suggest = { box: $("suggestions"), options: [], active: -1, start: 0 };

function showSuggestions() {
  const found = suggestionsAt(input.value, input.selectionStart ?? input.value.length);
  suggest.options = found?.options ?? [];
  suggest.start = found?.start ?? 0;
  suggest.active = -1;
  suggest.box.textContent = "";
  suggest.options.forEach((text, i) => {
    const option = document.createElement("li");
    option.id = `suggestion-${i}`;
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.textContent = text;
    // mousedown, not click: the input must keep its focus.
    option.addEventListener("mousedown", (press) => { press.preventDefault(); acceptSuggestion(i); });
    suggest.box.append(option);
  });
  const open = suggest.options.length > 0;
  suggest.box.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
  input.removeAttribute("aria-activedescendant");
}

function hideSuggestions() {
  suggest.options = [];
  suggest.box.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function moveSuggestion(step) {
  const n = suggest.options.length;
  suggest.active = (suggest.active + step + n) % n;
  [...suggest.box.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === suggest.active)));
  input.setAttribute("aria-activedescendant", `suggestion-${suggest.active}`);
}

function acceptSuggestion(i) {
  const caret = input.selectionStart ?? input.value.length;
  const text = suggest.options[i];
  input.value = input.value.slice(0, suggest.start) + text + input.value.slice(caret);
  const at = suggest.start + text.length;
  input.setSelectionRange(at, at);
  hideSuggestions();
  showWarnings();
}

input.addEventListener("keydown", (key) => {
  if (suggest.box.hidden) return;
  if (key.key === "ArrowDown" || key.key === "ArrowUp") {
    key.preventDefault();
    moveSuggestion(key.key === "ArrowDown" ? 1 : -1);
  } else if ((key.key === "Enter" || key.key === "Tab") && suggest.active >= 0) {
    key.preventDefault();
    acceptSuggestion(suggest.active);
  } else if (key.key === "Escape") {
    hideSuggestions();
  }
});
input.addEventListener("blur", hideSuggestions);

// ---- warnings -------------------------------------------------------------

// Likely mistakes, from the events seen so far: a comparison whose literal
// has another JSON type than every value seen at that path (false for every
// such event), or a path no event had. They warn; Connect still subscribes.
function warningsFor(text) {
  const warnings = [];
  if (schema.events < SCHEMA_MIN_EVENTS) return warnings;
  const comparison = /([A-Za-z_$@][\w$@-]*(?:\.[A-Za-z_$@][\w$@-]*|\["(?:[^"\\]|\\.)*"\])*)\s*(==|!=|<=|>=|=|<|>)\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)/gi;
  const seen = new Set();
  for (const [, path, operator, literal] of text.matchAll(comparison)) {
    seen.add(path);
    const known = schema.paths.get(path);
    if (!known) continue;
    const type = literal.startsWith('"') ? "string" : /^(true|false)$/i.test(literal) ? "boolean"
      : /^null$/i.test(literal) ? "null" : "number";
    if (!known.types.has(type)) {
      const types = [...known.types].join(" or ");
      const example = [...known.values.keys()][0];
      warnings.push(`${path} ${operator} ${literal}: ${path} is a ${types} in the events seen so far`
        + (example ? ` (e.g. ${example})` : "") + `, never a ${type}, so this is false for them`);
    }
  }
  const paths = /(?:^|[\s(!])(?:exists\s*\(\s*)?([A-Za-z_$@][\w$@-]*(?:\.[A-Za-z_$@][\w$@-]*|\["(?:[^"\\]|\\.)*"\])*)\s*(?=\)|==|!=|<=|>=|=|<|>|\s+(?:in|contains|startswith|endswith|matches)\b)/gi;
  for (const [, path] of text.matchAll(paths)) {
    if (schema.paths.has(path) || [...schema.paths.keys()].some((known) => known.startsWith(path + ".") || known.startsWith(path + "["))) continue;
    if (warnings.some((w) => w.startsWith(`no event seen so far has ${path}`))) continue;
    const near = [...schema.paths.keys()].find((known) => editDistance(known, path) <= 2);
    warnings.push(`no event seen so far has ${path}` + (near ? ` (did you mean ${near}?)` : ""));
  }
  return warnings;
}

function editDistance(a, b) {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function showWarnings() {
  const warnings = warningsFor(input.value);
  const box = $("warnings");
  box.textContent = "";
  for (const text of warnings) {
    const line = document.createElement("li");
    line.textContent = text;
    box.append(line);
  }
  box.hidden = warnings.length === 0;
}

// ---- narrowing a panel, and its columns ------------------------------------

const COLUMNS_MAX = 6;            // extra cells per row; a row is one line
const COLUMN_VALUES_MAX = 4;      // values shown of a path that meets an array

// The criterion, its topic and the ✕'s name, which say what the panel filters.
function labelPanel(panel) {
  panel.root.querySelector(".criterion").textContent = panel.criterion;
  const topic = panel.root.querySelector(".panel-topic");
  topic.textContent = panel.topics ? `on ${panel.topics.join(", ")}` : "";
  topic.hidden = !panel.topics;
  const on = panel.topics ? ` on ${panel.topics.join(", ")}` : "";
  panel.root.querySelector(".remove").setAttribute("aria-label", `Remove filter ${panel.criterion}${on}`);
}

// What a panel asks for, in words: the criterion, and its topics unless all.
function describe(criterion, topics) {
  return topics ? `"${criterion}" on ${topics.join(", ")}` : `"${criterion}"`;
}

// The panel already showing `criterion` on `topics` (null: every topic), if
// any. The same criterion on another topic is another question, so another panel.
function shownPanel(criterion, topics) {
  const key = JSON.stringify(topics ?? null);
  return [...panels.values()].find((panel) => panel.criterion === criterion && JSON.stringify(panel.topics ?? null) === key);
}

// "Narrow": the panel's criterion gains `and clause`, and the panel is
// subscribed again under it, its rows and counts started afresh and live
// (rows of the wider criterion would not all match). The old filter is
// unsubscribed only if it is this connection's (as ✕ does); a subscribe
// still in flight is orphaned, so its reply unsubscribes what it brings.
function narrowPanel(panel, clause) {
  const criterion = panel.criterion.trim() === "*" ? clause : `(${panel.criterion}) and ${clause}`;
  if (shownPanel(criterion, panel.topics)) {
    showNotice(`${describe(criterion, panel.topics)} is already shown`);
    return;
  }
  if (panel.filter !== null && byFilter.get(filterKey(panel.filter)) === panel) {
    byFilter.delete(filterKey(panel.filter));
    send({ type: "unsubscribe", filter: panel.filter });
  }
  if (panel.ref !== null) byRef.set(panel.ref, { key: null });
  const queued = subscribeQueue.indexOf(panel);
  if (queued >= 0) subscribeQueue.splice(queued, 1);
  Object.assign(panel, {
    criterion, filter: null, ref: null, lost: null, subscribedOnce: false, sinceMs: null,
    liveSinceMs: null, seam: new Seam(), matchRate: null, sampled: null, statsAt: 0, droppedPerSession: null,
  });
  delete panel.root.dataset.filter;
  panel.root.querySelector(".history-done").hidden = true;
  labelPanel(panel);
  if (panel.paused) togglePause(panel);
  clearPanel(panel);
  updateAddress();
  showNotice(`narrowed to ${criterion}`);
  link.wanted = true;
  queueSubscribe(panel);
  disconnectButton.disabled = false;
  if (!link.socket) openSocket();
}

function setUpColumns(panel) {
  const choice = panel.root.querySelector(".column-field");
  const add = () => {
    if (addColumn(panel, choice.value)) choice.value = "";
  };
  choice.addEventListener("keydown", (key) => {
    if (key.key === "Enter") { key.preventDefault(); add(); }
  });
  panel.root.querySelector(".column-add").onclick = add;
}

// A column of `text` (a path as the language writes it) on every row of the
// panel; false (and a notice) when it is not a path, already shown, or one
// too many.
function addColumn(panel, text) {
  const keys = parsePath(text);
  if (!keys) {
    if (text.trim()) showNotice(`not a field path: ${text.trim()}`);
    return false;
  }
  const written = filterPath(keys) ?? text.trim();
  if (panel.columns.some((column) => column.text === written)) return true;
  if (panel.columns.length >= COLUMNS_MAX) {
    showNotice(`at most ${COLUMNS_MAX} columns per panel`);
    return false;
  }
  panel.columns.push({ text: written, keys });
  columnsChanged(panel);
  return true;
}

function removeColumn(panel, text) {
  panel.columns = panel.columns.filter((column) => column.text !== text);
  columnsChanged(panel);
  panel.root.querySelector(".column-field").focus();
}

// The chips say which columns are shown; every drawn row is drawn again.
function columnsChanged(panel) {
  const list = panel.root.querySelector(".column-list");
  list.textContent = "";
  for (const column of panel.columns) {
    const chip = document.createElement("li");
    const name = document.createElement("code");
    name.textContent = column.text;
    const remove = button("✕", "column-remove", `Remove column ${column.text}`);
    remove.onclick = () => removeColumn(panel, column.text);
    chip.append(name, " ", remove);
    list.append(chip);
  }
  for (const item of panel.rendered.values()) item.remove();
  panel.rendered = new Map();
  updateAddress();
  requestDraw();
}

// One cell: the value at the column's path (each value, if it meets an array).
function columnCell(line, column, event) {
  const values = [];
  walkLeaves(field(event, ...column.keys), column.keys, values, COLUMN_VALUES_MAX);
  const text = values.map(({ value }) => (typeof value === "string" ? value : JSON.stringify(value))).join(", ");
  const span = document.createElement("span");
  span.className = "col";
  span.textContent = text || "–";
  span.title = `${column.text}: ${text || "missing"}`;
  line.append(span);
}

// The panels of an address: each `q` in order, with the `topic` and the
// `col` after it (no `topic`: every topic).
function sharedView(search) {
  const view = [];
  let last = null;
  for (const [name, value] of search) {
    if (name === "q") {
      last = value.trim() ? { criterion: value.trim(), topics: null, columns: [] } : null;
      if (last) view.push(last);
    } else if (name === "topic" && last && value) {
      last.topics = [...(last.topics ?? []), value];
    } else if (name === "col" && last) {
      last.columns.push(value);
    }
  }
  return view;
}

// ---- the gateway's schema sample ------------------------------------------

const GATEWAY_SCHEMA_RETRY_MS = 2000;

// Before this page has seen events, the gateway's sample of its recent
// matches (GET /schema, admitted as /ws is: docs/protocol.md) feeds the
// suggestions and warnings. Asked on load, on connect and when the
// criterion gets focus, until a sample with events came.
const gatewaySchema = { loaded: false, askedAt: -Infinity };

async function loadGatewaySchema() {
  if (gatewaySchema.loaded || Date.now() - gatewaySchema.askedAt < GATEWAY_SCHEMA_RETRY_MS) return;
  gatewaySchema.askedAt = Date.now();
  const token = $("token").value;
  try {
    const response = await fetch("/schema" + (token ? `?token=${encodeURIComponent(token)}` : ""), { cache: "no-store" });
    if (!response.ok) return;
    const sample = await response.json();
    if (!(sample.events > 0) || !Array.isArray(sample.paths)) return;
    gatewaySchema.loaded = true;
    mergeSchemaSample(sample);
  } catch {
    // No gateway yet, or an old one: the page learns from its own events.
  }
}

// The sample's counts join the page's own, within the page's bounds.
function mergeSchemaSample(sample) {
  schema.events += sample.events;
  for (const { path, types, values } of sample.paths) {
    if (typeof path !== "string") continue;
    let known = schema.paths.get(path);
    if (!known) {
      if (schema.paths.size >= SCHEMA_PATHS_MAX) continue;
      known = { types: new Set(), values: new Map() };
      schema.paths.set(path, known);
    }
    for (const type of types ?? []) known.types.add(type);
    for (const { literal, count } of values ?? []) {
      if (known.values.has(literal) || known.values.size < SCHEMA_VALUES_MAX) {
        known.values.set(literal, (known.values.get(literal) ?? 0) + (count || 1));
      }
    }
  }
  if (document.activeElement === input) showSuggestions();
}

input.addEventListener("focus", loadGatewaySchema);

// ---- form -----------------------------------------------------------------

// A panel for `criterion` on `topics` (null: every topic), subscribed as
// soon as the socket allows; one already shown is pointed at instead (one
// panel per criterion and topics).
function startPanel(criterion, topics, history, sinceMs) {
  link.wanted = true;
  let panel = shownPanel(criterion, topics);
  if (panel) {
    showNotice(`${describe(criterion, topics)} is already shown`);
    panel.root.scrollIntoView({ block: "nearest" });
  } else {
    panel = addPanel(criterion, topics, history, sinceMs);
    queueSubscribe(panel);
  }
  disconnectButton.disabled = false;
  if (!link.socket) openSocket();
  return panel;
}

function connect(event) {
  event.preventDefault();
  hideError();
  hideNotice();
  hideSuggestions();
  const criterion = input.value.trim();
  if (!criterion) {
    // Panels waiting (a refused token, the address's ?q=): connect them.
    if (panels.size && !link.socket) { link.wanted = true; link.attempt = 0; openSocket(); return; }
    showError(input.value, 1, "type a criterion first");
    return;
  }
  link.attempt = 0;
  const history = Math.max(0, Math.min(100, parseInt($("history").value, 10) || 0));
  // "from": an absolute time on the gateway's clock, fixed when asked.
  const back = parseInt($("from").value, 10) || 0;
  const sinceMs = back > 0 ? Math.round(Date.now() + clock.offsetMs - back) : null;
  startPanel(criterion, chosenTopics(), history, sinceMs);
}

// The panels' criteria in the address (`?q=…&topic=…&q=…`), so a view can be shared.
function updateAddress() {
  const next = new URLSearchParams(location.search);
  for (const name of ["q", "topic", "col"]) next.delete(name);
  for (const panel of [...panels.values()]) {
    next.append("q", panel.criterion);
    for (const topic of panel.topics ?? []) next.append("topic", topic);
    for (const column of panel.columns) next.append("col", column.text);
  }
  const query = next.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
}

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
}

function hideNotice() { $("notice").hidden = true; }

// The error is shown under the criterion with a caret at its column
// (1-based bytes, FILTERS.md); the input's cursor is put there too.
function showError(criterion, column, message) {
  const box = $("error"), where = $("error-where");
  where.textContent = "";
  if (column) {
    const bytes = new TextEncoder().encode(criterion);
    const before = new TextDecoder().decode(bytes.slice(0, column - 1));
    const at = new TextDecoder().decode(bytes.slice(column - 1, column)) || " ";
    const after = new TextDecoder().decode(bytes.slice(column));
    where.append(before);
    const mark = document.createElement("span");
    mark.className = "bad-char";
    mark.textContent = at;
    where.append(mark, after, "\n", " ".repeat(before.length));
    const caret = document.createElement("span");
    caret.className = "caret";
    caret.textContent = `^ column ${column}`;
    where.append(caret);
    box.dataset.column = String(column);
    input.focus();
    input.setSelectionRange(before.length, before.length + at.length);
  } else {
    delete box.dataset.column;
  }
  $("error-message").textContent = message;
  box.hidden = false;
  input.classList.add("invalid");
}

function hideError() {
  $("error").hidden = true;
  input.classList.remove("invalid");
}

for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    input.value = example.textContent;
    hideError();
    showWarnings();
    input.focus();
  });
}

form.addEventListener("submit", connect);
disconnectButton.addEventListener("click", disconnect);
input.addEventListener("input", () => { hideError(); showSuggestions(); showWarnings(); });

// A shared view: every `q` of the address is a panel, connected at once,
// with the topics (`topic`) and the columns (`col`) that follow it. The same
// panel twice in an address is opened once.
for (const { criterion, topics, columns } of sharedView(params)) {
  if (shownPanel(criterion, topics)) continue;
  const panel = startPanel(criterion, topics, 0, null);
  for (const column of columns) addColumn(panel, column);
}
loadGatewaySchema();
