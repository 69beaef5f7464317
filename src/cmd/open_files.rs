//! The open-file limit of a gateway process: every session is a socket, so
//! 50,000 sessions need a limit above 50,000. Many shells and hosts start
//! processes with a soft limit of 1,024 and a higher hard limit; the soft
//! limit is raised here, up to the hard limit, and `clicktail gateway`
//! reports a hard limit too low for `connections_max` at start rather than
//! as refused sessions later.

/// Descriptors a gateway holds besides its connections: the listener, the
/// pollers and their wakers, Kafka and PostgreSQL clients, log files.
const DESCRIPTORS_BESIDES_CONNECTIONS: u64 = 256;

/// What the process may hold after [`raise_for`].
pub enum OpenFiles {
    Enough,
    /// The hard limit is below what `connections_max` needs. (Read by
    /// `clicktail gateway` only; the demo raises the limit and goes on.)
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Short {
        limit: u64,
        sessions_at_most: u64,
    },
}

/// Raises the soft limit as far as `connections_max` needs, or as far as
/// the hard limit allows.
pub fn raise_for(connections_max: usize) -> std::io::Result<OpenFiles> {
    let wanted = connections_max as u64 + DESCRIPTORS_BESIDES_CONNECTIONS;
    let limit = rlimit::increase_nofile_limit(wanted)?;
    Ok(if limit >= wanted {
        OpenFiles::Enough
    } else {
        OpenFiles::Short { limit, sessions_at_most: limit.saturating_sub(DESCRIPTORS_BESIDES_CONNECTIONS) }
    })
}

/// Raises the limit for `connections_max` and returns the most connections
/// to serve.
///
/// When the limit stays short, the warning is for an operator who chose
/// `connections_max` (a flag or `CLICKTAIL_CONNECTIONS_MAX`): the gateway
/// cannot serve what was asked. The default (60,000) is a ceiling, not a
/// need: a gateway started without it on a host whose limit is lower serves
/// as many connections as the limit allows, refusing the rest at accept
/// (counted in `connections_refused_total`), and says so at info.
#[cfg(feature = "cluster")]
pub fn fit_connections_max(connections_max: usize, chosen: bool) -> usize {
    match raise_for(connections_max) {
        Ok(OpenFiles::Enough) => connections_max,
        Ok(OpenFiles::Short { limit, sessions_at_most }) if chosen => {
            tracing::warn!(
                limit,
                connections_max,
                sessions_at_most,
                "the open-file limit of this process is below what connections_max needs: raise the hard limit \
                 (`ulimit -Hn` as root, LimitNOFILE= in the systemd unit, the container runtime's nofile limit; \
                 docs/operations.md)"
            );
            connections_max
        }
        Ok(OpenFiles::Short { limit, sessions_at_most }) => {
            let fitted = usize::try_from(sessions_at_most).unwrap_or(usize::MAX).min(connections_max);
            tracing::info!(
                limit,
                connections_max = fitted,
                "serving at most connections_max connections, what the open-file limit allows; raise the hard \
                 limit and set --connections-max for more (docs/operations.md)"
            );
            fitted
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open-file limit");
            connections_max
        }
    }
}
