-- clicktail registry, schema version 6: many raw topics (issue 15). A
-- worker consumes several raw topics (`--raw-topics`), so a backfill seam
-- is per (topic, partition), not per partition. Seams are short-lived
-- (gone with their job), so existing rows keep the empty topic, which
-- no worker of this version reads.
ALTER TABLE backfill_seams ADD COLUMN IF NOT EXISTS topic text NOT NULL DEFAULT '' CHECK (octet_length(topic) <= 249);
ALTER TABLE backfill_seams DROP CONSTRAINT IF EXISTS backfill_seams_pkey;
ALTER TABLE backfill_seams ADD PRIMARY KEY (filter_id, topic, partition);

-- A filter may be restricted to some raw topics: names and at most one
-- `^pattern` (`subscribe` with `topics`, `clicktail filters add --topics`).
-- NULL means every raw topic the workers consume. Set on insert, never
-- updated; workers of the previous release ignore it (they match the
-- filter on every topic, which is what they consume anyway: one).
ALTER TABLE filters ADD COLUMN IF NOT EXISTS topics text[]
    CHECK (topics IS NULL OR (cardinality(topics) BETWEEN 1 AND 64));

-- The raw topics the workers consume, as each worker announces them
-- (every `--topics-announce-interval`): what a gateway validates a
-- subscription's `topics` against, and offers the UI. A topic no worker
-- announced for a while is stale and no longer offered.
CREATE TABLE IF NOT EXISTS worker_topics (
    topic     text        PRIMARY KEY CHECK (octet_length(topic) BETWEEN 1 AND 249),
    last_seen timestamptz NOT NULL DEFAULT now()
);
