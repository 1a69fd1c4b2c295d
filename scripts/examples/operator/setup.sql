-- The operator session's database (run by scripts/examples/operator/run as the superuser).
SELECT ad.create_roles();
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'adworker') THEN CREATE ROLE adworker LOGIN IN ROLE ad_worker; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alice') THEN CREATE ROLE alice LOGIN IN ROLE ad_operator; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bob') THEN CREATE ROLE bob LOGIN IN ROLE ad_operator; END IF;
END $$;
INSERT INTO ad.users (name, db_role) VALUES ('Alice', 'alice');
INSERT INTO ad.data_sources (id, name, config) VALUES ('00000000-0000-0000-0000-0000000000a1', 'web-1',
    '{"thresholds": {"low": 0.45, "medium": 0.55, "high": 0.75, "critical": 0.9}}');
-- The receiver listens on loopback, which the outbound policy refuses: the database owner allows it.
INSERT INTO ad_internal.outbound_allowlist (network, note) VALUES ('127.0.0.1/32', 'the example''s webhook receiver')
ON CONFLICT DO NOTHING;
INSERT INTO ad.channels (name, type, target) VALUES ('ops-hook', 'webhook', :'hook');
INSERT INTO ad.alert_rules (name) VALUES ('web latency');
INSERT INTO ad.alert_rule_channels (rule_id, channel_id)
SELECT r.id, c.id FROM ad.alert_rules r, ad.channels c WHERE r.name = 'web latency' AND c.name = 'ops-hook';
