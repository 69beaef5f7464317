-- clicktail registry, schema version 2: gateway nodes and their heartbeats.
-- A session filter now belongs to a node (the gateway process that serves
-- its session) and lives as long as that node does: the sweep deletes a
-- node's session filters only once the node has been silent for its TTL
-- while the database was up and watched by the sweeper (see
-- engine/src/registry/postgres/liveness.rs and docs/operations.md, "What a
-- PostgreSQL outage does to sessions"). Before, each row expired on its
-- own, so an outage longer than the TTL deleted every live session's
-- filters the moment the database came back.

CREATE TABLE IF NOT EXISTS nodes (
    -- One gateway process: its --node-name and a per-start suffix, so two
    -- processes never share a row.
    name       text        PRIMARY KEY CHECK (octet_length(name) <= 256),
    -- The node's last heartbeat, by the database clock.
    last_seen  timestamptz NOT NULL DEFAULT now(),
    -- How long the node may stay silent before it counts as gone.
    ttl_ms     bigint      NOT NULL CHECK (ttl_ms >= 0)
);

-- The node of a session filter; NULL for standing filters.
ALTER TABLE filters ADD COLUMN IF NOT EXISTS node text CHECK (octet_length(node) <= 256);

-- No backfill and no NOT NULL: during an upgrade, gateways of the previous
-- release keep inserting session rows without a node (migrations are
-- forward-compatible, docs/operations.md "Upgrade and rollback"). Such rows
-- still expire by `expires`, but never within 30 s of the database's start
-- or of the sweeper's connection (liveness.rs).

-- The sweep finds a gone node's filters, and a heartbeat its own, by node.
CREATE INDEX IF NOT EXISTS filters_node ON filters (node) WHERE node IS NOT NULL;
