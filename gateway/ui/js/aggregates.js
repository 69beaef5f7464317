// Live aggregates of a panel: its rate over 5 minutes (a sparkline) and the
// top values of a chosen field, from the stream itself, sampled and bounded.

import { STATS_STALE_MS } from "./bounds.js";
import { formatRate } from "./counters.js";
import { field, filterPath, parsePath, walkLeaves } from "./paths.js";

const SPARK_SECONDS = 300;        // the sparkline's window
const TOP_DISTINCT_MAX = 200;     // distinct values counted per second; the rest are "(other)"
const TOP_TOTAL_DISTINCT_MAX = 2000; // distinct values counted over the 5 minutes
const TOP_SHOWN = 5;

// Per panel: events per second over 5 minutes (the workers' true rate when
// stats frames come, since a thinned filter delivers a sample), and the top
// values of a chosen field in the last 1 and 5 minutes, each count weighted
// by 1 / the sampled fraction at its arrival (so they estimate matches).
export class Aggregates {
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
export function thinning(panel) {
  if (panel.sampled === null || !(panel.sampled > 0) || Date.now() - panel.statsAt > STATS_STALE_MS) return 1;
  return 1 / panel.sampled;
}
