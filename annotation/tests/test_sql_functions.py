"""The queue's PostgreSQL functions as installed by the migrations are the definitions in annotation/sql/.

PostgreSQL itself renders both sides: the file is run into a scratch schema inside the test's transaction, and the two
definitions pg_get_functiondef gives are compared after dropping SQL comments and collapsing whitespace, so a file can
be reworded or rewrapped without a migration, and any other change to it needs one (annotation/migrations/0014)."""

import re
from pathlib import Path

import pytest
from django.db import connection

SQL = Path(__file__).resolve().parent.parent / "sql"
SCRATCH = "annotation_sql_file"
FUNCTIONS = [("claim.sql", "annotation_claim"), ("submit.sql", "annotation_submit_record")]


def _definitions(cursor, *, name: str, schema: str) -> list[str]:
    cursor.execute("SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                   "WHERE p.proname = %s AND n.nspname = %s", [name, schema])
    # The function's own schema is the one part that differs by construction.
    return [row[0].replace(f"FUNCTION {schema}.{name}(", f"FUNCTION {name}(", 1) for row in cursor.fetchall()]


def _normalised(definition: str) -> str:
    """Comments dropped (a `--` inside a quoted string is text, and stays) and whitespace collapsed."""
    return " ".join(re.sub(r"('(?:[^']|'')*')|--[^\n]*", lambda m: m.group(1) or "", definition).split())


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue's functions exist on PostgreSQL only")
@pytest.mark.django_db
@pytest.mark.parametrize(("file_name", "function"), FUNCTIONS)
def test_the_installed_function_is_the_file(file_name, function):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        installed_schema = cursor.fetchone()[0]
        # Both rendered under one search path, so type names print alike on both sides.
        cursor.execute(f"CREATE SCHEMA {SCRATCH}")
        cursor.execute(f"SET LOCAL search_path TO {SCRATCH}, {installed_schema}")
        cursor.execute((SQL / file_name).read_text(encoding="utf-8"))
        installed = _definitions(cursor, name=function, schema=installed_schema)
        from_file = _definitions(cursor, name=function, schema=SCRATCH)
    assert len(installed) == 1, f"{function}: {len(installed)} installed versions (an old signature left behind?)"
    assert len(from_file) == 1
    assert _normalised(installed[0]) == _normalised(from_file[0]), (
        f"{function} in the database differs from annotation/sql/{file_name}: install the file through a new migration "
        f"from a frozen copy (see annotation/migrations/0014_queue_sql_files.py)")


def test_normalising_keeps_every_statement():
    """Only comments and the layout are ignored: a changed word is a difference."""
    body = "SELECT 1 -- one\n  FROM t  WHERE a = 'x--y''s' -- 'two'"
    assert _normalised(body) == "SELECT 1 FROM t WHERE a = 'x--y''s'"
    assert _normalised("SELECT 1\nFROM t") == _normalised("SELECT 1 FROM  t -- t")
    assert _normalised("SELECT 1 FROM t") != _normalised("SELECT 2 FROM t")
