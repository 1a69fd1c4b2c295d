-- Run once by the TimescaleDB image when it initialises an empty data directory (docker/compose.yaml mounts it into
-- /docker-entrypoint-initdb.d/), in the database POSTGRES_DB names. TimescaleDB before the schema: `adworker
-- migrate` then makes ad.data_points and ad.anomalies hypertables, with compression and the continuous aggregate
-- (the image's TimescaleDB carries the community license they need).
CREATE EXTENSION IF NOT EXISTS timescaledb;
