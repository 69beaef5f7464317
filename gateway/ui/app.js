// clicktail admin UI: one WebSocket to /ws (docs/protocol.md), one panel per
// filter. Plain browser JavaScript, no build step, no dependency.
"use strict";

// Bounds of the page, so a busy filter cannot exhaust the tab's memory.
const EVENTS_SHOWN_MAX = 300;     // list items per panel; older ones leave
const PAUSED_BUFFER_MAX = 300;    // events kept while paused (newest win)
const PRETTY_BYTES_MAX = 20000;   // expanded JSON beyond this is cut
const LATENCY_SAMPLES = 200;      // window of the latency median
const RATE_WINDOW_MS = 5000;      // window of the match rate
const HEARTBEAT_MS = 10000;

const $ = (id) => document.getElementById(id);
const form = $("query-form"), input = $("criterion"), connectButton = $("connect");
const disconnectButton = $("disconnect"), statusBadge = $("status"), panelsBox = $("panels");

let socket = null;
let heartbeat = null;
let nextRef = 1;
const pendingByRef = new Map();   // ref -> criterion sent, awaiting subscribed
const panels = new Map();         // filter id -> panel state
let clockOffsetMs = 0;            // gateway clock minus ours, from heartbeat acks

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

function openSocket() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(socketUrl());
    let opened = false;
    ws.onopen = () => { opened = true; resolve(ws); };
    ws.onmessage = (message) => onFrame(JSON.parse(message.data));
    ws.onclose = (close) => {
      if (!opened) {
        $("token-row").hidden = false;
        reject(new Error("the gateway refused the connection (token or origin?)"));
      }
      onClosed(ws, close);
    };
  });
}

function onClosed(ws, close) {
  if (socket !== ws) return;
  socket = null;
  clearInterval(heartbeat);
  disconnectButton.disabled = true;
  const why = close.reason ? `closed: ${close.reason}` : "disconnected";
  setStatus(why, close.code === 1000 || close.code === 1005 ? "off" : "bad");
  for (const panel of panels.values()) panel.root.classList.add("stopped");
}

async function connect(event) {
  event.preventDefault();
  hideError();
  const criterion = input.value.trim();
  if (!criterion) { showError(input.value, 1, "type a criterion first"); return; }
  connectButton.disabled = true;
  try {
    if (!socket) {
      setStatus("connecting…", "off");
      socket = await openSocket();
      setStatus("connected", "on");
      disconnectButton.disabled = false;
      heartbeat = setInterval(() => send({ type: "heartbeat" }), HEARTBEAT_MS);
    }
    const ref = "r" + nextRef++;
    pendingByRef.set(ref, criterion);
    const history = Math.max(0, Math.min(100, parseInt($("history").value, 10) || 0));
    send({ type: "subscribe", ref, criterion, history });
  } catch (error) {
    setStatus(error.message, "bad");
  } finally {
    connectButton.disabled = false;
  }
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function disconnect() {
  if (socket) socket.close(1000, "disconnect");
}

function onFrame(frame) {
  switch (frame.type) {
    case "hello": break;
    case "subscribed": onSubscribed(frame); break;
    case "subscribe_error": onSubscribeError(frame); break;
    case "event": onEvent(frame); break;
    case "dropped": onDropped(frame); break;
    case "unsubscribed": removePanel(frame.filter); break;
    case "heartbeat_ack": clockOffsetMs = frame.now_ms - Date.now(); break;
    case "error": setStatus(frame.message, "bad"); break;
  }
}

function onSubscribeError(frame) {
  const criterion = pendingByRef.get(frame.ref) ?? input.value;
  pendingByRef.delete(frame.ref);
  showError(criterion, frame.column, frame.message);
}

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

function onSubscribed(frame) {
  pendingByRef.delete(frame.ref);
  hideError();
  const root = $("panel-template").content.firstElementChild.cloneNode(true);
  root.dataset.filter = frame.filter;
  root.querySelector(".criterion").textContent = frame.criterion;
  root.querySelector(".criterion").title = `${frame.criterion} (filter ${frame.filter})`;
  const panel = {
    root, id: frame.filter, count: 0, dropped: 0, paused: false, held: [],
    arrivals: [], latencies: [],
    list: root.querySelector(".events"),
  };
  root.querySelector(".pause").onclick = () => togglePause(panel);
  root.querySelector(".clear").onclick = () => { panel.list.textContent = ""; };
  root.querySelector(".remove").onclick = () => {
    if (socket) send({ type: "unsubscribe", filter: panel.id }); else removePanel(panel.id);
  };
  panels.set(frame.filter, panel);
  panelsBox.prepend(root);
  $("empty").hidden = true;
}

function removePanel(id) {
  const panel = panels.get(id);
  if (!panel) return;
  panel.root.remove();
  panels.delete(id);
  $("empty").hidden = panels.size > 0;
}

function togglePause(panel) {
  panel.paused = !panel.paused;
  panel.root.classList.toggle("paused", panel.paused);
  panel.root.querySelector(".pause").textContent = panel.paused ? "Resume" : "Pause";
  if (!panel.paused) {
    for (const frame of panel.held) render(panel, frame);
    panel.held = [];
  }
}

function onEvent(frame) {
  const panel = panels.get(frame.filter);
  if (!panel) return;
  panel.count++;
  const now = Date.now();
  if (!frame.history) {
    panel.arrivals.push(now);
    const latency = now + clockOffsetMs - frame.ts_ms;
    panel.latencies.push(latency);
    if (panel.latencies.length > LATENCY_SAMPLES) panel.latencies.shift();
    frame.latency_ms = latency;
  }
  if (panel.paused) {
    panel.held.push(frame);
    if (panel.held.length > PAUSED_BUFFER_MAX) panel.held.shift();
  } else {
    render(panel, frame);
  }
}

function onDropped(frame) {
  // Drops are counted per filter (`filter` names it, `total` is that
  // filter's); a gateway that predates that counted per session only, and
  // its frame goes to every panel.
  const targets = frame.filter === undefined ? [...panels.values()] : [panels.get(frame.filter)].filter(Boolean);
  for (const panel of targets) {
    panel.dropped = frame.total;
    const notice = document.createElement("li");
    notice.className = "notice";
    notice.textContent = `${frame.count} events missed (reader too slow)`;
    panel.list.prepend(notice);
  }
}

function field(value, ...path) {
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[key];
  }
  return value;
}

function render(panel, frame) {
  const event = frame.event;
  const item = document.createElement("li");
  item.className = "event fresh" + (frame.history ? " history" : "");
  const line = document.createElement("div");
  line.className = "line";
  const cell = (cls, text) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text ?? "";
    line.append(span);
  };
  cell("time", new Date(frame.ts_ms).toLocaleTimeString());
  cell("type", String(field(event, "type") ?? "event"));
  cell("who", String(field(event, "user", "id") ?? field(event, "anonymous_id") ?? "anonymous"));
  cell("what", String(field(event, "page", "path") ?? field(event, "search", "query") ?? ""));
  cell("lat", frame.history ? "history" : `${Math.max(0, Math.round(frame.latency_ms))} ms`);
  item.append(line);
  line.onclick = () => toggleDetails(item, event);
  panel.list.prepend(item);
  while (panel.list.childElementCount > EVENTS_SHOWN_MAX) panel.list.lastElementChild.remove();
}

function toggleDetails(item, event) {
  const open = item.querySelector("pre");
  if (open) {
    open.remove();
    item.querySelector(".truncated")?.remove();
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
  item.append(pre);
  if (cut) {
    const note = document.createElement("div");
    note.className = "truncated";
    note.textContent = `… ${cut} more characters not shown`;
    item.append(note);
  }
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Counters refresh four times a second, not per event.
setInterval(() => {
  const now = Date.now();
  let total = 0;
  for (const panel of panels.values()) {
    while (panel.arrivals.length && panel.arrivals[0] < now - RATE_WINDOW_MS) panel.arrivals.shift();
    const rate = panel.arrivals.length / (RATE_WINDOW_MS / 1000);
    const p50 = median(panel.latencies);
    const q = (cls) => panel.root.querySelector(cls);
    q(".count").textContent = panel.count.toLocaleString();
    q(".rate").textContent = (rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)) + "/s";
    q(".dropped").textContent = panel.dropped.toLocaleString();
    q(".dropped").classList.toggle("some", panel.dropped > 0);
    q(".latency").textContent = p50 === null ? "–" : `${Math.max(0, Math.round(p50))} ms`;
    total += panel.count;
  }
  $("totals").textContent = panels.size ? `${panels.size} filter(s) · ${total.toLocaleString()} events` : "";
}, 250);

form.addEventListener("submit", connect);
disconnectButton.addEventListener("click", disconnect);
input.addEventListener("input", hideError);
