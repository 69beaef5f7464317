// Counters: every panel's count, rate, drops, latency and true rate, and the
// page's totals, refreshed on a tick rather than per event.

import { BEHIND_MS, RATE_TICKS, STATS_STALE_MS, TICK_MS } from "./bounds.js";
import { $ } from "./dom.js";
import { schema } from "./schema.js";
import { link, panels } from "./state.js";

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Counters refresh four times a second, not per event; aggregates once a second.
let ticksSeen = 0;
export function startTicking() {
  setInterval(tick, TICK_MS);
}

function tick() {
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
}

export function formatRate(rate) {
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
