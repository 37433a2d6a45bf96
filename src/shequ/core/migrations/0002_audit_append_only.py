"""The audit log is append-only in the database itself, not only by convention.

UPDATE is refused always; DELETE only for rows older than the 180-day minimum retention
(ARCHITECTURE §7), which is what `shequ audit-prune` removes.
"""

from django.db import migrations

SQLITE = [
    """CREATE TRIGGER core_audit_no_update BEFORE UPDATE ON core_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;""",
    """CREATE TRIGGER core_audit_no_delete BEFORE DELETE ON core_auditentry
       WHEN OLD.at > datetime('now', '-180 days')
       BEGIN SELECT RAISE(ABORT, 'audit entries are kept at least 180 days'); END;""",
]
SQLITE_REVERSE = ["DROP TRIGGER core_audit_no_update;", "DROP TRIGGER core_audit_no_delete;"]

POSTGRES = [
    """CREATE FUNCTION core_audit_guard() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'audit log is append-only'; END IF;
         IF OLD.at > now() - interval '180 days' THEN
           RAISE EXCEPTION 'audit entries are kept at least 180 days';
         END IF;
         RETURN OLD;
       END $$ LANGUAGE plpgsql;""",
    """CREATE TRIGGER core_audit_guard BEFORE UPDATE OR DELETE ON core_auditentry
       FOR EACH ROW EXECUTE FUNCTION core_audit_guard();""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER core_audit_guard ON core_auditentry;",
    "DROP FUNCTION core_audit_guard();",
]


def forward(apps, schema_editor):
    for sql in POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    for sql in POSTGRES_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
