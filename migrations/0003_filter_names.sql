-- clicktail registry, schema version 3: a name for a standing filter, so a
-- downstream application or a person can refer to it by what it is for
-- (`clicktail filters add --name bookings`, `clicktail tail --name
-- bookings`) instead of an id that changes when the filter is re-created.

-- NULL for session filters and for unnamed standing filters. 256 bytes
-- bounds it as `owner` is bounded.
ALTER TABLE filters ADD COLUMN IF NOT EXISTS name text CHECK (octet_length(name) <= 256);

-- Only standing filters are named: sessions come and go with a browser tab.
ALTER TABLE filters DROP CONSTRAINT IF EXISTS filters_name_standing_only;
ALTER TABLE filters ADD CONSTRAINT filters_name_standing_only CHECK (name IS NULL OR kind = 'standing');

-- One filter per name. A partial unique index: NULLs (most rows) are not
-- indexed at all. Gateways of the previous release never write `name`, so
-- this migration is forward-compatible (docs/operations.md, "Upgrade and
-- rollback").
CREATE UNIQUE INDEX IF NOT EXISTS filters_name ON filters (name) WHERE name IS NOT NULL;
