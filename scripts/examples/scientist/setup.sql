-- The data scientist's session's database (run by scripts/examples/scientist/run as the superuser).
SELECT ad.create_roles();
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'adworker') THEN CREATE ROLE adworker LOGIN IN ROLE ad_worker; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dana') THEN CREATE ROLE dana LOGIN IN ROLE ad_scientist; END IF;
END $$;
INSERT INTO ad.users (name, db_role) VALUES ('Dana', 'dana');
INSERT INTO ad.data_sources (id, name) VALUES ('00000000-0000-0000-0000-0000000000b1', 'pump-7');
