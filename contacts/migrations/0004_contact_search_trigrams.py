"""Trigram indexes for finding contacts by part of a name, e-mail or phone (PostgreSQL).

The search box matches contacts with `icontains` (name, e-mail) and `contains` (phone),
which PostgreSQL runs as `UPPER(column::text) LIKE '%…%'`: without these indexes every
search read the whole contacts table. The index expressions are the ones Django
generates, so the planner can use them for queries of three characters or more.

On SQLite (embedded mode) this does nothing.
"""

from django.db import migrations

INDEXES = {
    "contact_name_trgm_idx": "UPPER(name::text) gin_trgm_ops",
    "contact_email_trgm_idx": "UPPER(email::text) gin_trgm_ops",
    "contact_phone_trgm_idx": "(phone::text) gin_trgm_ops",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # A trusted extension since PostgreSQL 13: the database owner may create it.
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, expression in INDEXES.items():
            cursor.execute(f"CREATE INDEX {name} ON contacts_contact USING GIN ({expression})")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_labels"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
