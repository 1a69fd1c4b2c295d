-- Run once, by a fresh install. An upgrade changes these objects only in a step, sql/updates/ (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE TABLE ad.users (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email      text UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    role       text NOT NULL DEFAULT 'operator'
               CHECK (role IN ('admin', 'operator', 'analyst', 'data_scientist', 'engineer', 'viewer')),
    db_role    name UNIQUE,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ad.users IS
    'People who act on anomalies and alerts. db_role maps a database login to a person, so psql actions are attributed.';
COMMENT ON COLUMN ad.users.id IS 'User id.';
COMMENT ON COLUMN ad.users.name IS 'Display name.';
COMMENT ON COLUMN ad.users.email IS 'Email address, for notifications.';
COMMENT ON COLUMN ad.users.role IS 'What the person does: admin, operator, analyst, data_scientist, engineer or viewer.';
COMMENT ON COLUMN ad.users.db_role IS 'The database role (session_user) this person logs in as.';
COMMENT ON COLUMN ad.users.active IS 'False for people who left; they stay for the audit trail.';
COMMENT ON COLUMN ad.users.created_at IS 'When the row was added.';
