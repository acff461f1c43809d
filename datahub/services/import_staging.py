"""How an import's rows travel: staged in committed chunks, then moved into Record by one transaction.

Staging (StagedRecord) is what makes an import resumable: each chunk commits together with the job's resume
point. Moving is what makes it all or nothing: the rows reach Record inside one transaction that commits together
with the job's success, so the dataset never shows part of a file.

On PostgreSQL, outside any transaction (the worker and the command), a ThreadMover moves each chunk as soon as it
is staged, on a second connection whose transaction stays open until the last chunk: the database inserts chunk k
(the expensive part: the heap, the unique and other indexes, the WAL) while Python parses chunk k+1, so both
cores work.
It also defers full-text indexing (datahub.defer_search, migration 0006): the records are tokenised in one
statement once they are in (search_index_pending), and search matches them by substring until then.
Elsewhere (SQLite, or inside a caller's transaction, as in tests) a FinalMover moves everything at the end on the
caller's connection, as one INSERT … SELECT.
"""

import queue
import threading
from collections.abc import Callable
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone

from datahub.models import ImportJob, Record, StagedRecord

STAGED_COLUMNS = ("job_id", "ordinal", "kind", "messages", "tools", "chosen", "rejected", "label", "raw", "content_hash",
                  "prompt_hash", "line_number")
# First key of the advisory lock that lets one import at a time move rows into a dataset ("dh").
_DATASET_LOCK = 0x6468
# COPY lines sent to the database at a time.
_COPY_BATCH = 200
# Chunks a ThreadMover may lag behind the reader before the reader waits: bounds the staged rows in flight.
_MOVER_BACKLOG = 1
# work_mem of the moving transaction (PostgreSQL's default is 4MB), a constant: SET takes no parameters.
_MOVE_WORK_MEM = "32MB"

Finish = Callable[[int, int], None]  # (created, duplicates), called inside the moving transaction


def staged_object(job_id: int, ordinal: int, clean: dict, raw, hashes: tuple[str, str], line: int) -> StagedRecord:
    return StagedRecord(job_id=job_id, ordinal=ordinal, kind=clean["kind"], messages=clean["messages"], tools=clean.get("tools"),
                        chosen=clean.get("chosen"), rejected=clean.get("rejected"), label=clean.get("label"), raw=raw,
                        content_hash=hashes[0], prompt_hash=hashes[1], line_number=line)


@contextmanager
def staged_writer():
    """Yield `write(row)` for the rows of one chunk, inside the caller's transaction.

    On PostgreSQL each row is a COPY line (import_rows.staged_line; several lines at once are fine too) and the COPY stays open while the chunk is read, so the
    database parses and stores rows while Python validates the next ones; elsewhere rows are StagedRecord objects
    (staged_object), saved with bulk_create when the chunk ends. An exception inside aborts the chunk.
    """
    if connection.vendor != "postgresql":
        objects: list[StagedRecord] = []
        yield objects.append
        StagedRecord.objects.bulk_create(objects, batch_size=1000)
        return
    sql = f"COPY {StagedRecord._meta.db_table} ({', '.join(STAGED_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        pending: list[str] = []

        def write(line: str) -> None:
            pending.append(line)
            if len(pending) == _COPY_BATCH:
                copy.write("".join(pending))
                pending.clear()

        yield write
        if pending:
            copy.write("".join(pending))


def uses_copy() -> bool:
    return connection.vendor == "postgresql"


_RECORD_COLUMNS = ("dataset_id", "source_id", "kind", "messages", "tools", "chosen", "rejected", "label", "raw", "content_hash",
                   "prompt_hash", "tags", "parent_id", "origin", "import_job_id", "line_number", "created_at")
_RECORD_VALUES = ("%(dataset)s, %(source)s, s.kind, s.messages, s.tools, s.chosen, s.rejected, s.label, s.raw, s.content_hash, "
                  "s.prompt_hash, '[]', NULL, 'import', %(job)s, s.line_number, %(now)s")


def _dataset_lock(dataset_id: int) -> None:
    """One import at a time moves rows into a dataset, so its duplicate counts are exact. Held to the end of the
    transaction. An advisory lock on PostgreSQL leaves the dataset's row free for edits meanwhile."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_DATASET_LOCK, dataset_id])
    else:
        from datahub.models import Dataset

        Dataset.objects.select_for_update().filter(pk=dataset_id).first()


def _parameters(job: ImportJob, **more) -> dict:
    return {"dataset": job.dataset_id, "source": job.source_id, "job": job.pk, "now": timezone.now(), **more}


class FinalMover:
    """Moves every staged row of the job at the end, on the caller's connection (SQLite, or inside a transaction)."""

    defers_search = False

    def __init__(self, job: ImportJob):
        self.job = job

    def move(self, after: int, through: int) -> None:
        """Nothing yet: everything moves at commit."""

    def abort(self) -> None:
        """Nothing moved, nothing to undo."""

    def commit(self, finish: Finish) -> None:
        staged, record = StagedRecord._meta.db_table, Record._meta.db_table
        # "WHERE true" lets SQLite tell the upsert clause from a join condition after INSERT … SELECT.
        sql = (f"INSERT INTO {record} ({', '.join(_RECORD_COLUMNS)}) SELECT {_RECORD_VALUES} FROM {staged} s "
               f"WHERE s.job_id = %(job)s AND true ORDER BY s.ordinal ON CONFLICT (dataset_id, content_hash) DO NOTHING")
        with transaction.atomic():
            _dataset_lock(self.job.dataset_id)
            total = StagedRecord.objects.filter(job=self.job).count()
            with connection.cursor() as cursor:
                cursor.execute(sql, _parameters(self.job))
                created = cursor.rowcount
            StagedRecord.objects.filter(job=self.job).delete()
            finish(created, total - created)


class _Aborted(Exception):
    pass


class ThreadMover:
    """Moves each staged chunk into Record as soon as it is committed, on its own connection and transaction.

    The transaction commits only in `commit` (with the job's success written by `finish`), so the records stay
    invisible until the whole file is in; a crash or `abort` rolls it back, and the staged rows, deleted inside
    it, come back, so a resumed job moves them again. PostgreSQL only, and only outside the caller's transaction
    (the second connection could not see the caller's uncommitted rows).
    """

    defers_search = True

    def __init__(self, job: ImportJob):
        self.job = job
        self.created = self.staged = 0
        self.error: BaseException | None = None
        self.requests: queue.Queue = queue.Queue(maxsize=_MOVER_BACKLOG)
        self.thread = threading.Thread(target=self._run, name=f"import-{job.pk}-mover", daemon=True)
        self.thread.start()

    def _put(self, request: tuple) -> None:
        while True:
            self._raise()
            try:
                self.requests.put(request, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def move(self, after: int, through: int) -> None:
        """Move the staged rows with after < ordinal <= through (committed by the caller)."""
        if through > after:
            self._put(("move", after, through))

    def commit(self, finish: Finish) -> None:
        self._put(("commit", finish))
        self.thread.join()
        self._raise()

    def abort(self) -> None:
        if self.thread.is_alive():
            try:
                self.requests.put(("abort",), timeout=5)
            except queue.Full:
                pass
            self.thread.join()

    def _run(self) -> None:
        staged, record = StagedRecord._meta.db_table, Record._meta.db_table
        chunk = "job_id = %(job)s AND ordinal > %(after)s AND ordinal <= %(through)s"
        # Ordinal order keeps file order for the ids and lets the first copy of a duplicate win; the (job, ordinal)
        # index reads the chunk in that order, so nothing is sorted. Two statements rather than DELETE … RETURNING
        # feeding the INSERT: that materialised and sorted every row of the chunk, about a tenth of the move.
        insert = (f"INSERT INTO {record} ({', '.join(_RECORD_COLUMNS)}) SELECT {_RECORD_VALUES} FROM {staged} s WHERE {chunk} "
                  f"ORDER BY s.ordinal ON CONFLICT (dataset_id, content_hash) DO NOTHING")
        delete = f"DELETE FROM {staged} WHERE {chunk}"
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL datahub.defer_search = 'on'")
                # The search trigger's transition table holds each chunk's new rows even when it defers (about 4 MB
                # for 5,000 rows): room for them in memory spares writing them to a temporary file.
                cursor.execute(f"SET LOCAL work_mem = '{_MOVE_WORK_MEM}'")
                # Check each chunk's dataset reference as it goes in, while the reader works, not all at the commit.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                _dataset_lock(self.job.dataset_id)
                while True:
                    request = self.requests.get()
                    if request[0] == "abort":
                        raise _Aborted
                    if request[0] == "commit":
                        request[1](self.created, self.staged - self.created)
                        break
                    parameters = _parameters(self.job, after=request[1], through=request[2])
                    cursor.execute(insert, parameters)
                    self.created += cursor.rowcount
                    # Deleted in the moving transaction: a rollback brings the chunk back for a resumed job.
                    cursor.execute(delete, parameters)
                    self.staged += cursor.rowcount
        except _Aborted:
            pass
        except BaseException as exc:  # handed to the reader thread, which raises it
            self.error = exc
        finally:
            connection.close()


def mover_class() -> type[FinalMover] | type[ThreadMover]:
    """ThreadMover on PostgreSQL outside a transaction, else FinalMover."""
    return ThreadMover if connection.vendor == "postgresql" and not connection.in_atomic_block else FinalMover


def mover_for(job: ImportJob) -> FinalMover | ThreadMover:
    return mover_class()(job)


# A record's words: every string value in its messages (texts, roles, tool calls), not the JSON keys.
SEARCH_DOCUMENT = "jsonb_to_tsvector('simple'::regconfig, messages, '[\"string\"]')"


def search_index_pending(*, dataset_id: int) -> int:
    """Tokenise the records of the dataset's imports that deferred it (see ThreadMover); return how many.

    One statement per job, each in its own transaction with clearing the job's search_pending, so an interrupted
    run leaves the rest pending (search still finds them by substring) and the next import's run picks them up.
    """
    if connection.vendor != "postgresql":
        return 0
    indexed = 0
    for job_id in ImportJob.objects.filter(dataset_id=dataset_id, search_pending=True).values_list("pk", flat=True):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO datahub_recordsearch (record_id, document) "
                           f"SELECT id, {SEARCH_DOCUMENT} FROM datahub_record "
                           "WHERE import_job_id = %s ON CONFLICT (record_id) DO NOTHING", [job_id])
            indexed += cursor.rowcount
            ImportJob.objects.filter(pk=job_id).update(search_pending=False)
    return indexed
