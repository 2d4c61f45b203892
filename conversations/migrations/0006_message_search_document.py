"""Store each message's search document instead of computing it per match.

Migration 0003 indexed the expression `to_tsvector('switchboard_search', body)`: the index
finds matches, but ranking them (`ts_rank`) and checking phrases recomputed the document
from the body for every matching row, so a common word or a phrase cost more the more
messages it matched. Here the document becomes a stored generated column with the GIN
index on it: PostgreSQL computes it once when a message is written.

On SQLite (embedded mode) this does nothing: search falls back to `icontains` there.
"""

from django.db import migrations

CONFIG = "switchboard_search"
COLUMN = "search_document"
INDEX = "message_search_document_idx"
OLD_INDEX = "message_body_search_idx"


def store_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE conversations_message ADD COLUMN {COLUMN} tsvector"
            f" GENERATED ALWAYS AS (to_tsvector('{CONFIG}'::regconfig, body)) STORED"
        )
        cursor.execute(
            f"CREATE INDEX {INDEX} ON conversations_message USING GIN ({COLUMN})"
        )
        cursor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")


def compute_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {OLD_INDEX} ON conversations_message"
            f" USING GIN (to_tsvector('{CONFIG}'::regconfig, body))"
        )
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(f"ALTER TABLE conversations_message DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_provider_delivery_fields"),
    ]

    operations = [
        migrations.RunPython(store_document, compute_document, elidable=False),
    ]
