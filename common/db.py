"""Database housekeeping that services call after bulk steps."""

from django.db import connection, transaction


def tables_analyze_after_commit(*models) -> None:
    """ANALYZE the tables of `models` once the current transaction commits (at once outside one); PostgreSQL only.

    A bulk step (an import, a version freeze, a project's tasks) can fill a table that was empty or never analysed,
    and autovacuum analyses it only a minute or more later. Until then the planner guesses from no statistics
    (reltuples -1): on a new database the annotation queue's claim ran seconds instead of milliseconds. After commit,
    so the statistics see the new rows and the bulk transaction holds no extra lock; ANALYZE samples a fixed number
    of rows, so it costs little even on a large table.
    """
    if connection.vendor != "postgresql" or not models:
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)

    def analyze() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")

    transaction.on_commit(analyze)
