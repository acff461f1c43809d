"""The queue's PostgreSQL functions, installed from the frozen copies beside this migration: sql/0014_claim.sql and
sql/0014_submit.sql, copies of annotation/sql/claim.sql and submit.sql as they were when this migration was written.

Why copies, and why files: a migration must install what the database needed at its point in history, whenever it
runs. annotation/sql/*.sql move on with the code (a later version may name a column that a database being migrated
step by step does not have yet), so no migration reads them. The copies are as frozen as this file; keeping them as
.sql files, not strings in the migration, keeps them readable and lets `diff` show what a later migration changes.
To change a function: edit annotation/sql/<name>.sql, copy it to migrations/sql/<number>_<name>.sql and add a
migration like this one (a new signature also drops the old one). annotation/tests/test_sql_functions.py fails while
an installed function differs from its file, so the two cannot drift apart.

The definitions are those of 0005 (claim) and 0013 (submit), reformatted; the signatures are the same, so CREATE OR
REPLACE replaces them.
"""

import importlib
from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).resolve().parent / "sql"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in ("0014_claim.sql", "0014_submit.sql"):
            schema_editor.execute((FROZEN / name).read_text(encoding="utf-8"), params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(importlib.import_module("annotation.migrations.0005_claim_function").CLAIM_FUNCTION, params=None)
        schema_editor.execute(importlib.import_module("annotation.migrations.0013_ranking").SUBMIT_FUNCTION, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0013_ranking"),
    ]

    operations = [migrations.RunPython(install, restore)]
