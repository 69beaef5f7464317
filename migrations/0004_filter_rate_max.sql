-- clicktail registry, schema version 4: a per-filter match budget.
-- `rate_max_per_s` bounds how many matches per second, across every worker,
-- a filter forwards to the filtered topic; the workers thin the rest
-- uniformly and still count them (engine/DESIGN.md §8, "Match budgets").
--
-- NULL means the filter kind's default: a session filter gets the workers'
-- `--session-filter-rate-max-per-s` (1,000 unless configured), a standing
-- filter is unlimited. A session's `subscribe` may ask for a rate (capped by
-- the gateway's `--session-filter-rate-cap-per-s`); `clicktail filters add
-- --rate-max N` gives one to a standing filter.
--
-- Nullable and without a backfill: workers and gateways of the previous
-- release neither read nor write it, so the migration is forward-compatible
-- (docs/operations.md, "Upgrade and rollback"). No NOTIFY change either: a
-- row's budget is set on insert and never updated.

ALTER TABLE filters ADD COLUMN IF NOT EXISTS rate_max_per_s integer CHECK (rate_max_per_s > 0);
