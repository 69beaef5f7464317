//! An admin session's requests: the dispatch of `/ws` messages by kind.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use clicktail_engine::matcher::FilterId;
use crossbeam_channel::TrySendError;
use tungstenite::Utf8Bytes;

use super::event_loop::LoopContext;
use super::outbound::Outbound;
use crate::audit::{self, Ended, SessionIdentity};
use crate::control::ControlRequest;
use crate::ids::ConnectionAddress;
use crate::protocol::error::ErrorReply;
use crate::protocol::heartbeat::{Heartbeat, HeartbeatAck};
use crate::protocol::subscribe::{Subscribe, SubscribeError, REF_BYTES_MAX};
use crate::protocol::unsubscribe::{Unsubscribe, Unsubscribed};
use crate::protocol::ClientMessage;
use clicktail_engine::clock::now_ms;

/// The filters of one admin session, and who holds it.
pub struct AdminState {
    /// Who was admitted, from where: owner of the filters, named in audit lines.
    pub identity: Arc<SessionIdentity>,
    /// This session's address, as audit lines name it.
    session: ConnectionAddress,
    /// Registered and routed to this session.
    pub filters: Vec<FilterId>,
    /// Sent to the control thread, not answered yet (count toward the limit).
    pub subscribes_pending: usize,
}

impl AdminState {
    pub fn new(identity: Arc<SessionIdentity>, session: ConnectionAddress) -> Self {
        AdminState { identity, session, filters: Vec::new(), subscribes_pending: 0 }
    }

    /// The session is gone: its filters are audited and released.
    pub fn close(self, context: &LoopContext) {
        let session = self.session.to_string();
        for filter in &self.filters {
            let criterion = context.routes.route(*filter).map(|route| route.criterion);
            audit::ended(&self.identity, &session, *filter, criterion.as_deref(), Ended::SessionClosed);
        }
        context.release(self.filters);
    }

    pub fn handle(&mut self, text: &str, address: ConnectionAddress, outbound: &mut Outbound, context: &LoopContext) {
        let reply = match ClientMessage::parse(text) {
            Ok(ClientMessage::Subscribe(request)) => self.subscribe(request, address, context),
            Ok(ClientMessage::Unsubscribe(request)) => self.unsubscribe(request, outbound, context),
            Ok(ClientMessage::Heartbeat(Heartbeat {})) => Some(HeartbeatAck::frame(now_ms(), self.filters.len())),
            Err(message) => Some(ErrorReply::frame(&message)),
        };
        if let Some(reply) = reply {
            outbound.offer_reply(Utf8Bytes::from(reply), &context.metrics);
        }
    }

    /// Checks the session's bounds here and hands the criterion to the
    /// control thread, which parses it (a regex can take tens of
    /// milliseconds to compile: never on the loop, where every other session
    /// of the loop would wait) and registers it; the `subscribed` or
    /// `subscribe_error` reply comes back through the loop's inbox.
    fn subscribe(&mut self, request: Subscribe, address: ConnectionAddress, context: &LoopContext) -> Option<String> {
        let reference = request.reference.as_deref();
        if reference.is_some_and(|text| text.len() > REF_BYTES_MAX) {
            return Some(SubscribeError::frame(None, format!("ref is longer than {REF_BYTES_MAX} bytes"), None));
        }
        let refuse = |message: String| {
            context.metrics.subscribe_refused_total.fetch_add(1, Relaxed);
            Some(SubscribeError::frame(reference, message, None))
        };
        let in_flight_max = context.config.session_subscribes_in_flight_max;
        if self.subscribes_pending >= in_flight_max {
            return refuse(format!(
                "{in_flight_max} subscribes of this session are in flight (the limit): wait for their replies"
            ));
        }
        let limit = context.config.session_filters_max;
        if self.filters.len() + self.subscribes_pending >= limit {
            return refuse(format!("this session already has {limit} filters (the limit): unsubscribe one first"));
        }
        let history = request.history.min(context.config.history_max);
        let control_request = ControlRequest::Subscribe {
            owner: address,
            identity: self.identity.clone(),
            criterion: request.criterion,
            history,
            since_ms: request.since_ms,
            reference: request.reference,
            rate_max: request.rate_max,
            topics: request.topics,
        };
        match context.control.try_send(control_request) {
            Ok(()) => {
                self.subscribes_pending += 1;
                None
            }
            Err(TrySendError::Full(ControlRequest::Subscribe { reference, .. }))
            | Err(TrySendError::Disconnected(ControlRequest::Subscribe { reference, .. })) => {
                context.metrics.subscribe_refused_total.fetch_add(1, Relaxed);
                Some(SubscribeError::frame(reference.as_deref(), "the gateway is busy: retry in a moment", None))
            }
            Err(_) => None,
        }
    }

    /// Swaps `old` for `new` (or just drops `old`) after its row was lost;
    /// false when the session no longer owns `old`.
    pub fn replace(&mut self, old: FilterId, new: Option<FilterId>) -> bool {
        let Some(position) = self.filters.iter().position(|owned| *owned == old) else {
            return false;
        };
        match new {
            Some(new) => self.filters[position] = new,
            None => {
                self.filters.swap_remove(position);
            }
        }
        true
    }

    fn unsubscribe(&mut self, request: Unsubscribe, outbound: &mut Outbound, context: &LoopContext) -> Option<String> {
        let filter = FilterId(request.filter);
        let Some(position) = self.filters.iter().position(|owned| *owned == filter) else {
            return Some(ErrorReply::frame(&format!("filter {filter} is not a filter of this session")));
        };
        self.filters.swap_remove(position);
        // Its queued frames go with it: none follows the `unsubscribed` reply.
        outbound.remove_filter(filter, &context.metrics);
        let criterion = context.routes.route(filter).map(|route| route.criterion);
        audit::ended(&self.identity, &self.session.to_string(), filter, criterion.as_deref(), Ended::Unsubscribed);
        context.release(vec![filter]);
        Some(Unsubscribed::frame(filter.0))
    }
}
