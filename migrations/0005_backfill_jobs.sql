-- clicktail registry, schema version 5: backfill jobs (time travel served
-- from the raw topic's retention by the workers; engine/DESIGN.md, "Time
-- travel"). Version 4 is `0004_filter_rate_max.sql`; the two are
-- independent and apply in order.

-- One job per session filter that asked for history (`subscribe` with
-- `since_ms` or `history`), inserted in the same transaction as the filter
-- and gone with it.
CREATE TABLE IF NOT EXISTS backfill_jobs (
    filter_id      bigint      PRIMARY KEY REFERENCES filters (id) ON DELETE CASCADE,
    -- Scan from this Unix time in ms; NULL: from the worker's look-back.
    since_ms       bigint,
    -- At most this many matches are sent (the newest).
    matches_max    integer     NOT NULL CHECK (matches_max >= 0),
    created        timestamptz NOT NULL DEFAULT now(),
    -- The worker holding the job and until when; a lease that ran out may
    -- be claimed by another worker (the holder died).
    claimed_by     text        CHECK (octet_length(claimed_by) <= 256),
    lease_until    timestamptz,
    attempts       integer     NOT NULL DEFAULT 0,
    -- Set once the job's `history_done` record is on the filtered topic.
    finished       timestamptz,
    events_scanned bigint,
    matches        bigint,
    complete       boolean
);

-- The claim's scan: open jobs, oldest first.
CREATE INDEX IF NOT EXISTS backfill_jobs_open ON backfill_jobs (created) WHERE finished IS NULL;

-- Per job and raw partition, the offset from which live matching of the
-- filter is certain: written by filter threads (first writer wins), read
-- by the claimer, which scans up to it.
CREATE TABLE IF NOT EXISTS backfill_seams (
    filter_id   bigint  NOT NULL REFERENCES backfill_jobs (filter_id) ON DELETE CASCADE,
    partition   integer NOT NULL CHECK (partition >= 0),
    seam_offset bigint  NOT NULL,
    PRIMARY KEY (filter_id, partition)
);
