// The connection: one WebSocket to /ws (docs/protocol.md), opened again by
// itself after a close (backoff with jitter), and the clock: the gateway's
// offset from this page's, from heartbeat round trips.

import { CLOCK_SAMPLES, HANDSHAKE_REFUSALS_BELIEVED, HEARTBEAT_MS, RECONNECT_BASE_MS, RECONNECT_MAX_MS } from "./bounds.js";
import { $, disconnectButton, statusBadge } from "./dom.js";
import { onFrame, queueSubscribe } from "./frames.js";
import { showPanelState } from "./panels.js";
import { loadGatewaySchema } from "./schema.js";
import { byFilter, byRef, clock, link, panels, subscribeQueue } from "./state.js";

function setStatus(text, kind) {
  statusBadge.textContent = text;
  statusBadge.className = "status " + kind;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const token = $("token").value;
  return `${scheme}//${location.host}/ws` + (token ? `?token=${encodeURIComponent(token)}` : "");
}

// ---- connection -----------------------------------------------------------

export function openSocket() {
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
  link.refusedInARow = 0;
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
    // it refused us (token or origin), unless a restart raced the two: the
    // handshake reached the old gateway as it exited, /healthz the new one.
    // So a refusal is believed only when it happens twice in a row.
    const reachable = await fetch("/healthz", { cache: "no-store" }).then((r) => r.ok, () => false);
    if (!link.wanted || link.socket) return;
    link.refusedInARow = reachable ? link.refusedInARow + 1 : 0;
    if (link.refusedInARow >= HANDSHAKE_REFUSALS_BELIEVED) {
      link.wanted = false;
      link.refusedInARow = 0;
      $("token-row").hidden = false;
      setStatus("refused: admin token or origin", "bad");
      disconnectButton.disabled = panels.size === 0;
      return;
    }
  }
  const why = wasOpen ? `closed${close.reason ? ": " + close.reason : ""}`
    : link.refusedInARow > 0 ? "handshake failed" : "gateway unreachable";
  scheduleReconnect(why);
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

export function send(message) {
  if (link.socket && link.socket.readyState === WebSocket.OPEN) {
    link.socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

export function disconnect() {
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
export function onHeartbeatAck(frame) {
  const sent = clock.sentAt.shift();
  if (sent === undefined) return;
  const received = Date.now();
  clock.samples.push({ rtt: received - sent, offset: frame.now_ms - (sent + received) / 2 });
  if (clock.samples.length > CLOCK_SAMPLES) clock.samples.shift();
  let best = clock.samples[0];
  for (const sample of clock.samples) if (sample.rtt < best.rtt) best = sample;
  clock.offsetMs = best.offset;
}
