-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    db_role     name NOT NULL DEFAULT session_user,
    user_id     uuid REFERENCES ad.users (id),
    action      text NOT NULL,
    entity      text NOT NULL,
    entity_id   text NOT NULL,
    old_value   jsonb,
    new_value   jsonb
);
COMMENT ON TABLE ad.audit_log IS 'Append-only record of state changes: who (role and person), when, old and new.';
COMMENT ON COLUMN ad.audit_log.id IS 'Entry number, increasing.';
COMMENT ON COLUMN ad.audit_log.occurred_at IS 'When it happened (transaction time).';
COMMENT ON COLUMN ad.audit_log.db_role IS 'The database login that made the change.';
COMMENT ON COLUMN ad.audit_log.user_id IS 'The person (ad.users) mapped to that login, if any.';
COMMENT ON COLUMN ad.audit_log.action IS 'What happened, for example status_change or config_change.';
COMMENT ON COLUMN ad.audit_log.entity IS 'The kind of thing changed, for example alert or anomaly.';
COMMENT ON COLUMN ad.audit_log.entity_id IS 'Its id.';
COMMENT ON COLUMN ad.audit_log.old_value IS 'The state before.';
COMMENT ON COLUMN ad.audit_log.new_value IS 'The state after.';
CREATE INDEX audit_log_entity_idx ON ad.audit_log (entity, entity_id, occurred_at);
COMMENT ON INDEX ad.audit_log_entity_idx IS 'History of one entity.';
