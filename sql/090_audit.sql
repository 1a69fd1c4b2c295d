-- Re-run by every install and every update: CREATE OR REPLACE only (sql/README.md).
SET LOCAL search_path TO pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION ad_internal.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path TO pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'ad.audit_log is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$fn$;
COMMENT ON FUNCTION ad_internal.audit_log_append_only() IS 'Refuses UPDATE, DELETE and TRUNCATE on ad.audit_log.';

CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON ad.audit_log
    FOR EACH ROW EXECUTE FUNCTION ad_internal.audit_log_append_only();
COMMENT ON TRIGGER audit_log_append_only ON ad.audit_log IS 'Keeps the audit trail append-only.';
CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ad.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ad_internal.audit_log_append_only();
COMMENT ON TRIGGER audit_log_no_truncate ON ad.audit_log IS 'Keeps the audit trail append-only.';
