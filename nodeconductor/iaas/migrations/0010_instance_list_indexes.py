"""Index of the instance list's ?hostname= (icontains): trigrams, PostgreSQL only (a no-op on SQLite)."""

from django.db import migrations

# Django's icontains on PostgreSQL is UPPER("hostname"::text) LIKE UPPER(%s): the index is on that expression.
TRIGRAM_INDEX = "iaas_instance_hostname_trgm"
CREATE_TRIGRAM = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f'CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON iaas_instance USING gin ((UPPER("hostname"::text)) gin_trgm_ops)',
)


def create_trigram_index(apps, schema_editor):
    """PostgreSQL only: SQLite has no trigram indexes, and its LIKE scan is fine at a test's size."""
    if schema_editor.connection.vendor == "postgresql":
        for sql in CREATE_TRIGRAM:
            schema_editor.execute(sql)


def drop_trigram_index(apps, schema_editor):
    """Undo create_trigram_index (the extension stays: other databases' objects may use it)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ("iaas", "0009_floating_ips"),
    ]

    operations = [
        migrations.RunPython(create_trigram_index, drop_trigram_index, elidable=False),
    ]
