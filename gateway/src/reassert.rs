//! The node's heartbeat, and the filters it re-asserts.
//!
//! Every third of the TTL the control thread sends one heartbeat for the
//! whole node ([`Registry::heartbeat`]): the registry records the node as
//! alive by its own clock and reports which filters routed here have lost
//! their row. Under the registry's liveness rule (`engine/src/registry/
//! mod.rs`) an outage of the registry deletes nothing, however long; a row
//! goes only when this node alone was cut off for longer than its TTL, or
//! when someone deleted it. Each such filter still routed here is
//! registered again from its criterion and its session is told the new id
//! (`filter_replaced`); if the registry refuses the criterion now, the
//! session gets `filter_lost`. A session is never left waiting in silence.
//!
//! A failed heartbeat makes the node not ready (`/readyz` 503) until the
//! next one succeeds: a load balancer sends new admins elsewhere meanwhile.
//!
//! [`Registry::heartbeat`]: clicktail_engine::registry::Registry::heartbeat

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering::Relaxed;

use clicktail_engine::clock::now_ms;
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::{NewFilter, RegistryError};
use tungstenite::Utf8Bytes;

use crate::control::{ControlThread, INBOX_SEND_TIMEOUT};
use crate::protocol::filter_lost::FilterLost;
use crate::protocol::filter_replaced::FilterReplaced;
use crate::routes::{Route, Standing};
use crate::server::inbox::LoopCommand;

/// This process's name in the registry's `nodes` table: `--node-name`, then
/// 64 random bits. Every start gets its own row, so two gateways sharing a
/// `--node-name` (the default is `gateway`) never keep each other's
/// filters alive, nor delete them as orphans.
pub fn node_id(node_name: &str) -> String {
    // `RandomState` draws its keys from the operating system's randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_i64(now_ms());
    format!("{node_name}#{:016x}", hasher.finish())
}

impl ControlThread {
    /// One heartbeat of the node; re-asserts every filter reported missing.
    pub(crate) fn heartbeat(&self) {
        let ids = self.routes.ids();
        match self.registry.heartbeat(&self.node_id, &ids, self.filter_ttl) {
            Ok(outcome) => {
                self.metrics.ready.store(true, Relaxed);
                if outcome.orphans_deleted > 0 {
                    // Sessions that closed while their delete could not reach the registry.
                    tracing::info!(filters = outcome.orphans_deleted, "deleted filters no session of this node owns");
                }
                for lost in outcome.missing {
                    self.reassert(lost);
                }
            }
            Err(error) => {
                // Not ready while the registry is unreachable: a load
                // balancer should send new admins to another node.
                self.metrics.ready.store(false, Relaxed);
                tracing::warn!(%error, filters = ids.len(), "node heartbeat failed; retrying next period");
            }
        }
    }

    /// Registers `lost`'s criterion again and tells its session the new id,
    /// or that it is lost for good.
    fn reassert(&self, lost: FilterId) {
        // Released since the heartbeat read the routes: nothing to do.
        let Some(Route { session: owner, criterion, row_owner, rate_max_per_s, topics }) = self.routes.route(lost)
        else {
            return;
        };
        let Some(handle) = self.loops.get(owner.event_loop.0) else { return };
        let noticed_ms = now_ms();
        // The same owner as the lost row: the session's subject stays on it.
        let mut again = NewFilter::session(&*criterion, &self.node_id, row_owner.to_string(), self.filter_ttl);
        again.rate_max_per_s = rate_max_per_s;
        again.topics = topics.as_deref().map(<[String]>::to_vec);
        let (new, frame) = match self.registry.insert(again) {
            Ok(new) => {
                // One route out, one in: `filters_active` is unchanged.
                self.routes.remove(lost);
                self.routes.insert(
                    new,
                    owner,
                    Standing { criterion: criterion.clone(), row_owner, rate_max_per_s, topics },
                );
                tracing::warn!(lost = lost.0, filter = new.0, session = %owner, "filter row was lost; registered again");
                (Some(new), FilterReplaced::frame(lost.0, new.0, &criterion, noticed_ms))
            }
            Err(error @ RegistryError::Unavailable(_)) => {
                // Still routed, so the next heartbeat reports it again.
                tracing::warn!(%error, lost = lost.0, "filter row was lost; registering it again failed, will retry");
                return;
            }
            Err(error) => {
                if self.routes.remove(lost) {
                    self.metrics.filters_active.fetch_sub(1, Relaxed);
                }
                tracing::warn!(%error, lost = lost.0, session = %owner, "filter row was lost and is refused now");
                let message = format!("re-registering the filter failed: {error}");
                (None, FilterLost::frame(lost.0, &criterion, message))
            }
        };
        let command =
            LoopCommand::FilterReplaced { connection: owner.connection, old: lost, new, frame: Utf8Bytes::from(frame) };
        if handle.send_and_wake(command, INBOX_SEND_TIMEOUT).is_err() {
            // The loop is saturated or gone: nobody will own the new filter.
            if let Some(new) = new {
                self.release(&[new]);
            }
        }
    }
}
