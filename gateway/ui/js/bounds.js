// Bounds of the page, so a busy filter can exhaust neither memory nor the main thread.
export const STORE_MAX = 1000;           // rows kept per panel to scroll back through; oldest leave
export const HISTORY_KEPT_MAX = 1000;    // a subscribe's history rows kept below the live ones
export const HELD_MAX = 300;             // arrivals kept while paused or scrolled (newest win)
export const ROW_HEIGHT_PX = 26;         // every list row is one line of this height (app.css)
export const OVERSCAN_ROWS = 4;          // rows drawn beyond the view, so a scroll shows no blank
export const FLOOD_RATE = 50;            // events/s above which a panel is drawn ...
export const FLOOD_DRAW_MS = 150;        // ... at most this often: nobody reads faster
export const ANIMATE_BELOW_RATE = 5;     // events/s under which a new row is highlighted
export const PRETTY_BYTES_MAX = 20000;   // expanded JSON beyond this is cut
export const FIELDS_SHOWN_MAX = 200;     // values listed (copy / filter) in an opened row
export const LATENCY_SAMPLES = 200;      // window of the latency median
export const RATE_TICKS = 20;            // rate window: 20 ticks of 250 ms
export const TICK_MS = 250;
export const HEARTBEAT_MS = 2000;        // clock samples; also activity for the idle timeout
export const CLOCK_SAMPLES = 16;         // round trips the offset is chosen from
export const BEHIND_MS = 1000;           // "behind by" shown past this page lag
export const RECONNECT_BASE_MS = 250;
// A retry waits at most this: a restarted gateway is serving the page's
// panels again within 5 s (issue 13's target) even on a loaded machine.
export const RECONNECT_MAX_MS = 2000;
// Failed handshakes in a row, each while /healthz answered, before the page
// believes the gateway refuses its token or origin and stops retrying: one
// alone can be a restart's race (link.js, onClosed).
export const HANDSHAKE_REFUSALS_BELIEVED = 2;
export const STATS_STALE_MS = 3000;      // no stats frame for this long: the filter stopped matching
export const SEAM_IDS_MAX = 64;          // event ids remembered at the last timestamp (the resume seam)
export const EXPORT_COLUMNS_MAX = 100;   // CSV columns: the first paths seen in the exported rows
