// A panel's rows: the bounded store they are kept in, and the seam that
// recognises the events a re-subscribe brings twice. No DOM here.

import { HISTORY_KEPT_MAX, SEAM_IDS_MAX } from "./bounds.js";
import { field } from "./paths.js";

// The resume seam: after a re-subscribe with `since_ms` = the last event's
// ts_ms, the history that comes back starts at that millisecond, so the
// events of that millisecond this panel already has come twice; they are
// recognised by event_id (every ingested event has one, docs/protocol.md).
export class Seam {
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
export class RowStore {
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
