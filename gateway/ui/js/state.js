// The page's shared mutable state, in one place. Objects and Maps, never
// reassigned: an ES module's importers cannot reassign its bindings, so every
// module changes these through their fields.

// The connection. `generation` grows with every socket, so frames of an old
// socket and filter ids it handed out are never confused with the current ones.
export const link = {
  socket: null, generation: 0, wanted: false, opened: false, attempt: 0, retryTimer: null, refusedInARow: 0,
  inFlightMax: 4, heartbeatTimer: null, dropsTotal: 0,
};
export const panels = new Map();    // page-local key -> panel, in creation order
export const byFilter = new Map();  // `${generation}/${filter}` -> panel
export const byRef = new Map();     // subscribe ref -> panel awaiting its reply
export const subscribeQueue = [];   // panels waiting for an in-flight slot
export const clock = { offsetMs: 0, samples: [], sentAt: [] };

export function filterKey(filter) {
  return `${link.generation}/${filter}`;
}
