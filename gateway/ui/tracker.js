/* clicktail tracker: page events to the gateway's /ingest, batched.
 * Dependency-free. Usage:
 *   <script src="https://gateway.example/tracker.js"></script>
 *   clicktail.page(); clicktail.identify("u-42"); clicktail.track("click", {id: "buy"});
 * Protocol (docs/protocol.md): {"batch":N,"events":[...]} -> {"type":"ack","batch":N,...}.
 * A batch is kept until acknowledged and resent after a reconnect; on page
 * unload what is left goes in one keep-alive POST. Every event has an
 * event_id, so a resent duplicate can be recognised downstream. */
(function (global) {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src, location.href) : new URL(location.href);
  var options = {
    wsUrl: (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + "/ingest",
    httpUrl: base.protocol + "//" + base.host + "/ingest",
    batchEventsMax: 50,        // events per batch (the gateway accepts 500)
    flushDelayMs: 250,         // how long an event may wait for companions
    queueEventsMax: 1000,      // unsent events kept; the oldest are dropped beyond
    backoffMinMs: 500,         // first reconnect delay
    backoffMaxMs: 30000,       // longest reconnect delay
    unloadBytesMax: 60000      // keep-alive bodies are capped at 64 KiB by browsers
  };
  var queue = [];              // events not yet in a batch
  var unacked = [];            // batches sent (or to send) and not acknowledged, in order
  var nextBatch = 1, socket = null, open = false, attempts = 0, timer = null, reconnectTimer = null;
  var userId = null;
  var dropped = 0;

  function randomId(prefix) {
    if (global.crypto && crypto.randomUUID) return prefix + crypto.randomUUID();
    return prefix + Date.now().toString(16) + Math.random().toString(16).slice(2);
  }
  function stored(storage, key, prefix) {
    try {
      var value = storage.getItem(key);
      if (!value) { value = randomId(prefix); storage.setItem(key, value); }
      return value;
    } catch (e) { return randomId(prefix); }
  }
  var anonymousId = stored(global.localStorage, "clicktail.anonymous_id", "a-");
  var sessionId = stored(global.sessionStorage, "clicktail.session_id", "s-");
  var sequence = 0;

  function envelope(type, props) {
    return {
      event_id: randomId("e-"),
      type: type,
      ts: Date.now(),
      user: userId ? { id: userId } : null,
      anonymous_id: anonymousId,
      session: { id: sessionId, seq: ++sequence },
      page: { url: location.href, path: location.pathname, title: document.title, referrer: document.referrer || null },
      props: props || {}
    };
  }

  function enqueue(event) {
    queue.push(event);
    if (queue.length > options.queueEventsMax) { queue.shift(); dropped++; }
    if (queue.length >= options.batchEventsMax) flush();
    else if (!timer) timer = setTimeout(flush, options.flushDelayMs);
  }

  function flush() {
    clearTimeout(timer); timer = null;
    while (queue.length) {
      var batch = { batch: nextBatch++, events: queue.splice(0, options.batchEventsMax) };
      unacked.push(batch);
      if (open) socket.send(JSON.stringify(batch));
    }
    if (!socket) connect();
  }

  function connect() {
    if (socket || reconnectTimer) return;
    try { socket = new WebSocket(options.wsUrl); } catch (e) { socket = null; scheduleReconnect(); return; }
    socket.onopen = function () {
      open = true; attempts = 0;
      // Resend, in order, whatever was not acknowledged before the drop.
      for (var i = 0; i < unacked.length; i++) socket.send(JSON.stringify(unacked[i]));
    };
    socket.onmessage = function (message) {
      var reply;
      try { reply = JSON.parse(message.data); } catch (e) { return; }
      if (reply.type === "ack" || (reply.type === "nack" && reply.batch != null && !/busy|log/.test(reply.message))) {
        // Acknowledged, or refused for good (malformed): either way not resent.
        unacked = unacked.filter(function (b) { return b.batch !== reply.batch; });
      }
    };
    socket.onclose = function () { socket = null; open = false; scheduleReconnect(); };
    socket.onerror = function () { /* onclose follows */ };
  }

  // Full-jitter exponential backoff: a restarted gateway is not hit by every
  // tracker at the same instant.
  function scheduleReconnect() {
    if (reconnectTimer || (!unacked.length && !queue.length)) return;
    var ceiling = Math.min(options.backoffMaxMs, options.backoffMinMs * Math.pow(2, attempts++));
    reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, Math.random() * ceiling);
  }

  function sendOnUnload() {
    var events = [];
    for (var i = 0; i < unacked.length; i++) events = events.concat(unacked[i].events);
    events = events.concat(queue);
    if (!events.length) return;
    while (events.length) {
      var body = JSON.stringify({ batch: nextBatch++, events: events.splice(0, options.batchEventsMax) });
      if (body.length > options.unloadBytesMax) continue;
      try {
        // text/plain keeps it a "simple" request: no CORS preflight at unload.
        fetch(options.httpUrl, { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } });
      } catch (e) { /* the page is going away; nothing else to try */ }
    }
    queue = []; unacked = [];
  }

  global.addEventListener("pagehide", sendOnUnload);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") sendOnUnload();
  });

  global.clicktail = {
    track: function (type, props) { enqueue(envelope(String(type), props)); },
    page: function (props) { enqueue(envelope("page_view", props)); },
    identify: function (id, traits) { userId = id == null ? null : String(id); enqueue(envelope("identify", traits)); },
    flush: flush,
    configure: function (overrides) { for (var k in overrides) options[k] = overrides[k]; },
    stats: function () { return { queued: queue.length, unacked: unacked.length, dropped: dropped, connected: open }; }
  };
})(window);
