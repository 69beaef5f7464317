// clicktail admin UI: one WebSocket to /ws (docs/protocol.md), one panel per
// filter. Plain browser JavaScript, no build step, no dependency.
//
// Why it is shaped this way (issue 13):
// - Frames only update numbers and a bounded buffer per panel; the DOM is
//   touched once per animation frame, so a flood costs the newest rows only
//   and input (Pause, ✕) is never queued behind a backlog of drawing.
// - A panel is the page's own object, keyed for frames by (connection,
//   filter id): a filter id of another connection can never reach it, so ✕
//   can never unsubscribe someone else's filter.
// - The socket reconnects by itself (backoff with jitter) and re-subscribes
//   every panel.
"use strict";

// Bounds of the page, so a busy filter can exhaust neither memory nor the main thread.
const ROWS_MAX = 150;             // event rows per panel in the DOM; older ones leave
const DRAW_PER_FRAME_MAX = 30;    // rows drawn per panel per draw; the rest are skipped
const FLOOD_RATE = 50;            // events/s above which a panel is drawn ...
const FLOOD_DRAW_MS = 150;        // ... at most this often: nobody reads faster, and layout costs
const PAUSED_BUFFER_MAX = 300;    // events kept while paused or scrolled (newest win)
const ANIMATE_BELOW_RATE = 5;     // events/s under which a new row is highlighted
const PRETTY_BYTES_MAX = 20000;   // expanded JSON beyond this is cut
const LATENCY_SAMPLES = 200;      // window of the latency median
const RATE_TICKS = 20;            // rate window: 20 ticks of 250 ms
const TICK_MS = 250;
const HEARTBEAT_MS = 2000;        // clock samples; also activity for the idle timeout
const CLOCK_SAMPLES = 16;         // round trips the offset is chosen from
const BEHIND_MS = 1000;           // "behind by" shown past this page lag
const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 4000;

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
if (params.get("q")) input.value = params.get("q");

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
      break;
    case "subscribed": onSubscribed(frame); break;
    case "subscribe_error": onSubscribeError(frame); break;
    case "event": onEvent(frame); break;
    case "dropped": onDropped(frame); break;
    case "unsubscribed": byFilter.delete(filterKey(frame.filter)); break;
    case "heartbeat_ack": onHeartbeatAck(frame); break;
    case "filter_replaced": onFilterReplaced(frame); break;
    case "filter_lost": onFilterLost(frame); break;
    // An error answers one request; the session itself is still fine.
    case "error": showNotice(`gateway: ${frame.message}`); break;
  }
}

function queueSubscribe(panel) {
  if (!subscribeQueue.includes(panel)) subscribeQueue.push(panel);
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
    // History only the first time: a re-subscribe must not replay old rows.
    send({ type: "subscribe", ref, criterion: panel.criterion, history: panel.subscribedOnce ? 0 : panel.history });
  }
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
  if (!panel) return;
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

function onEvent(frame) {
  const panel = byFilter.get(filterKey(frame.filter));
  if (!panel) return;
  panel.count++;
  if (!frame.history) {
    panel.tickArrivals++;
    const now = Date.now() + clock.offsetMs;
    frame.latency_ms = now - frame.ts_ms;
    panel.latencies[panel.latencyNext++ % LATENCY_SAMPLES] = frame.latency_ms;
    // How late this page reads what the gateway sent: its own backlog.
    if (typeof frame.sent_ms === "number") link.pageLagMs = now - frame.sent_ms;
  }
  if (panel.paused) panel.arrivedWhilePaused++;
  panel.pending.push(frame);
  if (panel.pending.length > PAUSED_BUFFER_MAX) {
    panel.pending.shift();
    // While paused the loss is the gap told on Resume; otherwise it is skipped drawing.
    if (!panel.paused) panel.skipped++;
  }
  requestDraw();
}

// ---- panels ---------------------------------------------------------------

function addPanel(criterion, history) {
  const root = $("panel-template").content.firstElementChild.cloneNode(true);
  const panel = {
    key: nextPanelKey++, root, criterion, history, filter: null, ref: null, subscribedOnce: false,
    lost: null, count: 0, dropped: 0, droppedPerSession: null, paused: false, arrivedWhilePaused: 0,
    pending: [], skipped: 0, tickArrivals: 0, ticks: [], rate: 0, latencies: [], latencyNext: 0,
    list: root.querySelector(".events"), pinned: root.querySelector(".pinned"),
  };
  root.dataset.key = panel.key;
  root.querySelector(".criterion").textContent = criterion;
  root.querySelector(".remove").setAttribute("aria-label", `Remove filter ${criterion}`);
  root.querySelector(".pause").onclick = () => togglePause(panel);
  root.querySelector(".clear").onclick = () => clearPanel(panel);
  root.querySelector(".remove").onclick = () => removePanel(panel);
  root.querySelector(".new-mark").onclick = () => { panel.list.scrollTop = 0; if (panel.paused) togglePause(panel); else requestDraw(); };
  panel.list.addEventListener("scroll", () => requestDraw(), { passive: true });
  // One listener per list, not one per row: rows come and go by the thousand.
  for (const list of [panel.list, panel.pinned]) {
    list.addEventListener("click", (click) => onRowActivated(panel, click));
    list.addEventListener("keydown", (key) => {
      if (key.key === "Enter" || key.key === " ") onRowActivated(panel, key);
    });
  }
  panels.set(panel.key, panel);
  panelsBox.prepend(root);
  $("empty").hidden = true;
  showPanelState(panel);
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
}

function showPanelState(panel) {
  const state = panel.root.querySelector(".state");
  let text = "";
  if (panel.lost) text = `filter lost: ${panel.lost}`;
  else if (panel.filter === null) text = link.opened ? "subscribing…" : "waiting for the gateway…";
  else if (panel.paused) text = `paused · ${panel.arrivedWhilePaused.toLocaleString()} arrived since`;
  state.textContent = text;
  panel.root.classList.toggle("stopped", panel.filter === null);
}

function togglePause(panel) {
  panel.paused = !panel.paused;
  panel.root.classList.toggle("paused", panel.paused);
  panel.root.querySelector(".pause").textContent = panel.paused ? "Resume" : "Pause";
  if (panel.paused) {
    panel.arrivedWhilePaused = 0;
    panel.pending = [];
  } else {
    // What arrived while paused beyond what was kept is a gap, and says so.
    const missed = panel.arrivedWhilePaused - panel.pending.length;
    if (missed > 0) panel.gapBefore = missed;
    panel.arrivedWhilePaused = 0;
  }
  showPanelState(panel);
  requestDraw();
}

function clearPanel(panel) {
  panel.list.textContent = "";
  panel.pending = [];
  panel.count = 0;
  panel.dropped = 0;
  panel.skipped = 0;
  panel.arrivedWhilePaused = 0;
  panel.gapBefore = 0;
  panel.latencies = [];
  panel.latencyNext = 0;
  panel.ticks = [];
  panel.tickArrivals = 0;
  showPanelState(panel);
  requestDraw();
}

// ---- drawing --------------------------------------------------------------

let drawRequested = false;
function requestDraw() {
  if (drawRequested) return;
  drawRequested = true;
  requestAnimationFrame(draw);
}

function draw(now) {
  drawRequested = false;
  for (const panel of panels.values()) {
    if (panel.rate > FLOOD_RATE && now - (panel.drawnAt ?? 0) < FLOOD_DRAW_MS) {
      if (panel.pending.length) requestDraw();
      continue;
    }
    panel.drawnAt = now;
    drawPanel(panel);
  }
}

function drawPanel(panel) {
  const scrolled = panel.list.scrollTop > 4;
  const mark = panel.root.querySelector(".new-mark");
  if (panel.paused || scrolled) {
    const waiting = panel.paused ? panel.arrivedWhilePaused : panel.pending.length;
    mark.hidden = waiting === 0;
    mark.textContent = `${waiting.toLocaleString()} new ↑`;
    if (panel.paused) showPanelState(panel);
    return;
  }
  mark.hidden = true;
  let frames = panel.pending;
  panel.pending = [];
  if (frames.length > DRAW_PER_FRAME_MAX) {
    panel.skipped += frames.length - DRAW_PER_FRAME_MAX;
    frames = frames.slice(-DRAW_PER_FRAME_MAX);
  }
  if (!frames.length && !panel.gapBefore) return;
  const fragment = document.createDocumentFragment();
  const animate = panel.rate < ANIMATE_BELOW_RATE;
  for (let i = frames.length - 1; i >= 0; i--) fragment.append(row(panel, frames[i], animate));
  if (panel.gapBefore) {
    const gap = document.createElement("li");
    gap.className = "gap";
    gap.textContent = `${panel.gapBefore.toLocaleString()} events arrived while paused and were not kept`;
    fragment.append(gap);
    panel.gapBefore = 0;
  }
  panel.list.prepend(fragment);
  while (panel.list.childElementCount > ROWS_MAX) panel.list.lastElementChild.remove();
  const skipped = panel.root.querySelector(".skipped");
  skipped.hidden = panel.skipped === 0;
  skipped.textContent = `${panel.skipped.toLocaleString()} not drawn (too many to show; newest shown)`;
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

function row(panel, frame, animate) {
  const event = frame.event;
  const item = document.createElement("li");
  item.className = "event" + (frame.history ? " history" : "") + (animate ? " fresh" : "");
  item.dataset.ts = frame.ts_ms;
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
  cell("lat", frame.history ? "history" : `${Math.max(0, Math.round(frame.latency_ms))} ms`);
  item.append(line);
  item.clicktailEvent = event;
  return item;
}

function onRowActivated(panel, activation) {
  const line = activation.target.closest(".line");
  if (!line) return;
  activation.preventDefault();
  const item = line.parentElement;
  toggleDetails(panel, item, item.clicktailEvent);
}

// An opened row moves to the panel's pinned list, where no newer row pushes
// it out; closing it removes it (its event has long left the live list).
function toggleDetails(panel, item, event) {
  const line = item.querySelector(".line");
  const open = item.querySelector("pre");
  if (open) {
    item.remove();
    return;
  }
  let text = JSON.stringify(event, null, 2);
  const pre = document.createElement("pre");
  let cut = 0;
  if (text.length > PRETTY_BYTES_MAX) {
    cut = text.length - PRETTY_BYTES_MAX;
    text = text.slice(0, PRETTY_BYTES_MAX);
  }
  pre.textContent = text;
  pre.tabIndex = 0; // scrollable, so reachable from the keyboard
  item.append(pre);
  if (cut) {
    const note = document.createElement("div");
    note.className = "truncated";
    note.textContent = `… ${cut} more characters not shown`;
    item.append(note);
  }
  item.classList.remove("fresh");
  line.setAttribute("aria-expanded", "true");
  panel.pinned.prepend(item);
  line.focus({ preventScroll: true });
}

// ---- counters -------------------------------------------------------------

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Counters refresh four times a second, not per event.
setInterval(() => {
  let total = 0;
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
    total += panel.count;
  }
  const behind = link.opened && link.pageLagMs > BEHIND_MS;
  $("totals").textContent = (panels.size ? `${panels.size} filter(s) · ${total.toLocaleString()} events` : "")
    + (behind ? ` · behind by ${(link.pageLagMs / 1000).toFixed(1)} s` : "");
}, TICK_MS);

// ---- form -----------------------------------------------------------------

function connect(event) {
  event.preventDefault();
  hideError();
  hideNotice();
  const criterion = input.value.trim();
  if (!criterion) { showError(input.value, 1, "type a criterion first"); return; }
  link.wanted = true;
  link.attempt = 0;
  const existing = [...panels.values()].find((panel) => panel.criterion === criterion);
  if (existing) {
    showNotice(`"${criterion}" is already shown`);
    existing.root.scrollIntoView({ block: "nearest" });
  } else {
    const history = Math.max(0, Math.min(100, parseInt($("history").value, 10) || 0));
    queueSubscribe(addPanel(criterion, history));
  }
  disconnectButton.disabled = false;
  if (!link.socket) openSocket();
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
    input.focus();
  });
}

form.addEventListener("submit", connect);
disconnectButton.addEventListener("click", disconnect);
input.addEventListener("input", hideError);
