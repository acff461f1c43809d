"""The full-text index of the record browser, PostgreSQL only (SQLite searches by scanning).

A GIN index on to_tsvector('simple', messages::text) serves word search in any space-separated language. Chinese
(and other text without spaces, where the parser sees a whole sentence as one word) is searched by substring
(ILIKE) within the dataset instead; a trigram index would speed that up, but keeping one current costs every import
several times what this index does, so it is left out. A large GIN pending list (32 MB) lets an import append
to the index in bulk instead of merging entries row by row; autovacuum folds the list in later.
"""

from django.db import migrations

FULL_TEXT = ("CREATE INDEX IF NOT EXISTS datahub_record_messages_fts ON datahub_record "
             "USING gin (to_tsvector('simple'::regconfig, messages::text)) WITH (fastupdate = on, gin_pending_list_limit = 32768)")


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FULL_TEXT)


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS datahub_record_messages_fts")


class Migration(migrations.Migration):
    dependencies = [("datahub", "0003_import_streaming_and_formats")]
    operations = [migrations.RunPython(index_create, index_drop)]
