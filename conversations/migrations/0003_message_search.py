"""Full-text search over message bodies (PostgreSQL only; see conversations/search.py).

Creates the `switchboard_search` text-search configuration (the built-in `simple` one
with the `unaccent` dictionary in front) and a GIN expression index over
`to_tsvector('switchboard_search', body)`. The expression must stay identical to
`MessageDocument` in conversations/search.py, or the planner will not use the index.

On SQLite (embedded mode) this does nothing: search falls back to `icontains` there.
"""

from django.db import migrations

CONFIG = "switchboard_search"
INDEX = "message_body_search_idx"

# Word types that may hold accented letters; the ASCII ones go straight to `simple`.
ACCENTED_WORD_TYPES = "word, hword, hword_part, numword, numhword, hword_numpart"


def create_search(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # A trusted extension since PostgreSQL 13: the database owner may create it.
        cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        # Name the dictionary with its schema: the extension may live outside search_path.
        cursor.execute(
            "SELECT n.nspname FROM pg_extension e"
            " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
        )
        dictionary = f"{connection.ops.quote_name(cursor.fetchone()[0])}.unaccent"
        cursor.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.simple)")
        cursor.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {CONFIG}"
            f" ALTER MAPPING FOR {ACCENTED_WORD_TYPES} WITH {dictionary}, pg_catalog.simple"
        )
        cursor.execute(
            f"CREATE INDEX {INDEX} ON conversations_message"
            f" USING GIN (to_tsvector('{CONFIG}'::regconfig, body))"
        )


def drop_search(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}")
        # The unaccent extension stays: other objects of the database may use it.


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0002_labels"),
    ]

    operations = [
        migrations.RunPython(create_search, drop_search, elidable=False),
    ]
