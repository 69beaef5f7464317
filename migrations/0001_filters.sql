-- clicktail registry, schema version 1: the `filters` table and the trigger
-- that tells every watching worker about a change (LISTEN/NOTIFY).
-- Applied by `clicktail migrate` (engine/src/registry/postgres/migrations.rs),
-- inside one transaction under an advisory lock, so running it on many
-- nodes at once is safe.

CREATE TABLE IF NOT EXISTS filters (
    id          bigserial   PRIMARY KEY,
    -- The filter's source text (FILTERS.md); 4 KiB is the language's own limit.
    expression  text        NOT NULL CHECK (octet_length(expression) <= 4096),
    -- 'session': an admin's live tail, expires unless kept fresh;
    -- 'standing': created by `clicktail filters add`, never expires.
    kind        text        NOT NULL CHECK (kind IN ('session', 'standing')),
    -- The gateway node and session, or the user, that created it.
    owner       text        NOT NULL CHECK (octet_length(owner) <= 256),
    created     timestamptz NOT NULL DEFAULT now(),
    -- NULL for standing filters; swept once past (DELETE ... WHERE expires < now()).
    expires     timestamptz,
    CHECK ((kind = 'standing') = (expires IS NULL))
);

-- The sweep's scan: only rows that can expire.
CREATE INDEX IF NOT EXISTS filters_expires ON filters (expires) WHERE expires IS NOT NULL;

-- The payload is `I:<id>`, `U:<id>` or `D:<id>`: at most 22 bytes, far
-- from NOTIFY's 8,000-byte limit (PostgreSQL docs, "NOTIFY"); watchers
-- read the row itself with a SELECT. The channel is `<schema>.filters`
-- (e.g. `public.filters`): NOTIFY channels are per database, and several
-- deployments (or parallel tests) may share one database in separate schemas.
CREATE OR REPLACE FUNCTION filters_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.filters', 'D:' || OLD.id);
        RETURN OLD;
    END IF;
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.filters', left(TG_OP, 1) || ':' || NEW.id);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS filters_inserted_or_deleted ON filters;
CREATE TRIGGER filters_inserted_or_deleted
    AFTER INSERT OR DELETE ON filters
    FOR EACH ROW EXECUTE FUNCTION filters_notify();

-- Heartbeats update `expires` many times a second across 50,000 sessions;
-- they do not change what is matched, so only an expression change
-- notifies (the WHEN clause of CREATE TRIGGER).
DROP TRIGGER IF EXISTS filters_expression_updated ON filters;
CREATE TRIGGER filters_expression_updated
    AFTER UPDATE OF expression ON filters
    FOR EACH ROW WHEN (OLD.expression IS DISTINCT FROM NEW.expression)
    EXECUTE FUNCTION filters_notify();
