"""How an import's records travel: staged a chunk at a time, then copied into Record by one transaction.

Staging (StagedFile) is what makes an import resumable: each chunk's record lines (datahub.services.import_rows
.record_line) are appended to a file beside the upload, and the chunk's commit records the job's resume point and how
much of that file it fills. Moving is what makes it all or nothing: the records reach Record inside one transaction
that commits together with the job's success, so the dataset never shows part of a file.

On PostgreSQL, outside any transaction (the worker and the command), a ThreadMover copies each chunk into Record as
soon as it is staged, on a second connection whose transaction stays open until the last chunk: the database inserts
chunk k while Python parses chunk k+1, so both cores work. It also defers full-text indexing (datahub.defer_search,
migration 0006): the records are tokenised once they are in (search_index_pending, one connection per core), and
search matches them by substring until then.
Elsewhere (SQLite, or inside a caller's transaction, as in tests) a FinalMover copies every staged chunk at the end,
on the caller's connection.
"""

import os
import queue
import shutil
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Min

from common.errors import ApplicationError
from common.storage import storage_path
from datahub.models import ImportJob, Record
from datahub.services.import_rows import CONTENT_HASH_FIELD, RECORD_COLUMNS, record_line_values
from datahub.services.records import record_ids_by_hash

# First key of the advisory lock that lets one import at a time move rows into a dataset ("dh").
_DATASET_LOCK = 0x6468
# Chunks a ThreadMover may lag behind the reader before the reader waits: bounds the chunks held in memory.
_MOVER_BACKLOG = 2
# work_mem of the moving transaction (PostgreSQL's default is 4MB), a constant: SET takes no parameters.
_MOVE_WORK_MEM = "32MB"
# A filtered chunk is refused again only if another writer added one of its contents meanwhile; it is filtered anew.
_COPY_ATTEMPTS = 5
_CONTENT_UNIQUE = "record_content_unique_in_dataset"
# Staged records are read back (by a resumed job, or a FinalMover) this many bytes at a time.
_READ_BYTES = 4 << 20
# Full-text indexing after an import: at most this many connections at once, each taking at least this many records.
_SEARCH_CONNECTIONS = 4
_SEARCH_RANGE_MIN = 20_000

Finish = Callable[[int, int], None]  # (created, duplicates), called inside the moving transaction


def uses_copy() -> bool:
    return connection.vendor == "postgresql"


def _dataset_lock(dataset_id: int) -> None:
    """One import at a time moves rows into a dataset, so its duplicate counts are exact. Held to the end of the
    transaction. An advisory lock on PostgreSQL leaves the dataset's row free for edits meanwhile."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_DATASET_LOCK, dataset_id])
    else:
        from datahub.models import Dataset

        Dataset.objects.select_for_update().filter(pk=dataset_id).first()


class StagedFile:
    """A job's staged chunks: their record lines, one file beside the upload (in a folder no upload's name reaches).

    A chunk is written, not synced, before the commit that advances the job's resume point, staged_bytes and
    staged_crc (the CRC-32 of every staged byte so far); so the file holds at least the committed chunks, unless the
    machine itself went down with pages unwritten: `intact` tells, and the job then reads its file from the start.
    A file and not a table: megabytes per chunk written through PostgreSQL's buffers evicted the pages the import was
    inserting into, which cost it about a tenth of its speed.
    """

    def __init__(self, job: ImportJob):
        self.job = job
        self.path = Path(storage_path(job.file_path)).parent / "staging" / "records.tsv"

    def append(self, lines: str) -> None:
        """Write a chunk after the committed ones (over whatever an uncommitted one left) and advance the job's
        staged_bytes and staged_crc, which the caller saves in the chunk's commit."""
        if not lines:
            return
        data = lines.encode()
        self.path.parent.mkdir(exist_ok=True)
        with open(self.path, "r+b" if self.path.exists() else "wb") as staged:
            staged.seek(self.job.staged_bytes)
            staged.truncate()
            staged.write(data)
        self.job.staged_bytes += len(data)
        self.job.staged_crc = zlib.crc32(data, self.job.staged_crc)

    def intact(self) -> bool:
        """Whether the file still holds the committed chunks, byte for byte."""
        crc = 0
        try:
            for block in self._blocks(self.job.staged_bytes):
                crc = zlib.crc32(block, crc)
        except ApplicationError:
            return False
        return crc == self.job.staged_crc

    def chunks(self, length: int) -> Iterator[tuple[str, int]]:
        """The first `length` bytes (the committed chunks) as pieces of whole lines, each with its number of lines."""
        rest = b""
        for block in self._blocks(length):
            block = rest + block
            end = block.rfind(b"\n") + 1
            rest = block[end:]
            if end:
                yield block[:end].decode(), block.count(b"\n", 0, end)

    def _blocks(self, length: int) -> Iterator[bytes]:
        if not length:
            return
        try:
            with open(self.path, "rb") as staged:
                while length:
                    block = staged.read(min(_READ_BYTES, length))
                    if not block:
                        raise ApplicationError(
                            "the staged records are shorter than their committed chunks", where="staging"
                        )
                    length -= len(block)
                    yield block
        except FileNotFoundError as exc:
            raise ApplicationError("the staged records are gone", where="staging") from exc

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


class RecordCopier:
    """Puts chunks of record lines into the job's dataset on the current connection, each new content once.

    Most chunks hold no content the dataset already has: they go in by one plain COPY, and the unique (dataset,
    content_hash) index checks them as it inserts them (an INSERT … ON CONFLICT would look each one up once more
    first). A chunk the index refuses is rolled back to its savepoint, filtered (content the dataset holds, and
    repeats within the chunk, the first copy staying) and copied again; so are the chunks after it, for as long as
    they keep finding duplicates. Exact counts need the dataset lock (_dataset_lock) held by the caller.
    """

    def __init__(self, job: ImportJob):
        self.job = job
        self.created = self.staged = 0
        self.filtering = False

    def copy(self, lines: str, count: int) -> None:
        """Insert `count` record lines (one text) but the contents the dataset already holds."""
        self.staged += count
        if not self.filtering and self._inserted(lines):
            self.created += count
            return
        for _ in range(_COPY_ATTEMPTS):
            new = self._new_lines(lines)
            if self._inserted("".join(new)):
                self.created += len(new)
                self.filtering = len(new) < count
                return
        raise ApplicationError("other writers kept adding the same records while this file was imported; run it again",
                               where="records", code="conflict")

    def _new_lines(self, lines: str) -> list[str]:
        rows = lines.splitlines(keepends=True)
        hashes = [row.split("\t", CONTENT_HASH_FIELD + 1)[CONTENT_HASH_FIELD] for row in rows]
        seen = set(record_ids_by_hash(dataset=self.job.dataset, hashes=hashes))
        new = []
        for row, content in zip(rows, hashes):
            if content not in seen:
                seen.add(content)
                new.append(row)
        return new

    def _inserted(self, lines: str) -> bool:
        """Insert the lines, or roll them back and return False when one holds content the dataset already has."""
        if not lines:
            return True
        try:
            with transaction.atomic():
                if uses_copy():
                    with (
                        connection.cursor() as cursor,
                        connection.wrap_database_errors,
                        cursor.cursor.copy(
                            f"COPY {Record._meta.db_table} ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
                        ) as copy,
                    ):
                        copy.write(lines)
                else:
                    Record.objects.bulk_create(
                        [Record(**record_line_values(line)) for line in lines.splitlines()], batch_size=500
                    )
        except IntegrityError as exc:
            if not _content_conflict(exc):
                raise
            return False
        return True


def _content_conflict(exc: IntegrityError) -> bool:
    """Whether the error is the unique (dataset, content_hash) index refusing a row, and nothing else."""
    diagnosis = getattr(exc.__cause__, "diag", None)
    if diagnosis is not None:
        return diagnosis.constraint_name == _CONTENT_UNIQUE
    return "datahub_record.dataset_id, datahub_record.content_hash" in str(exc)  # SQLite names the columns


class FinalMover:
    """Copies every staged chunk of the job at the end, on the caller's connection (SQLite, or inside a transaction)."""

    defers_search = False

    def __init__(self, job: ImportJob):
        self.job = job

    def resume(self, length: int) -> None:
        """Nothing yet: the chunks of an earlier run move at commit with the rest."""

    def move(self, lines: str, count: int) -> None:
        """Nothing yet: everything moves at commit, from staging."""

    def abort(self) -> None:
        """Nothing moved, nothing to undo."""

    def commit(self, finish: Finish) -> None:
        with transaction.atomic():
            _dataset_lock(self.job.dataset_id)
            copier = RecordCopier(self.job)
            for lines, count in StagedFile(self.job).chunks(self.job.staged_bytes):
                copier.copy(lines, count)
            finish(copier.created, copier.staged - copier.created)


class _Aborted(Exception):
    pass


class ThreadMover:
    """Copies each staged chunk into Record as soon as it is committed, on its own connection and transaction.

    The transaction commits only in `commit` (with the job's success written by `finish`), so the records stay
    invisible until the whole file is in; a crash or `abort` rolls it back, and a resumed job copies the staged chunks
    again. PostgreSQL only, and only outside the caller's transaction (the second connection could not see what the
    caller has not committed, such as the dataset itself).
    """

    defers_search = True

    def __init__(self, job: ImportJob):
        self.job = job
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

    def resume(self, length: int) -> None:
        """Copy the chunks an earlier run of the job committed (the first `length` staged bytes)."""
        self._put(("staged", length))

    def move(self, lines: str, count: int) -> None:
        """Copy a chunk (`count` record lines) the caller has just committed to staging."""
        if count:
            self._put(("copy", lines, count))

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
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL datahub.defer_search = 'on'")
                # The search trigger's transition table holds each chunk's new rows even when it defers (about 4 MB
                # for 5,000 rows): room for them in memory spares writing them to a temporary file.
                cursor.execute(f"SET LOCAL work_mem = '{_MOVE_WORK_MEM}'")
                _dataset_lock(self.job.dataset_id)
                copier = RecordCopier(self.job)
                while True:
                    request = self.requests.get()
                    if request[0] == "abort":
                        raise _Aborted
                    if request[0] == "staged":
                        for lines, count in StagedFile(self.job).chunks(request[1]):
                            copier.copy(lines, count)
                    elif request[0] == "copy":
                        copier.copy(request[1], request[2])
                    else:
                        request[1](copier.created, copier.staged - copier.created)
                        break
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

    A job's records are split by id into one range per core (tokenising and the GIN index cost about 25 µs a record,
    all of it in the database), each range indexed on its own connection and committed alone; the job's search_pending
    is cleared once every range is in, so an interrupted run leaves it pending (search still finds its records by
    substring) and the next import's run finishes it (ranges already in are skipped by ON CONFLICT).
    """
    if connection.vendor != "postgresql":
        return 0
    indexed = 0
    for job_id in ImportJob.objects.filter(dataset_id=dataset_id, search_pending=True).values_list("pk", flat=True):
        ranges = _id_ranges(job_id)
        if len(ranges) > 1:
            with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
                indexed += sum(pool.map(partial(_search_index_range, job_id, own_connection=True), ranges))
        else:
            indexed += sum(_search_index_range(job_id, ids) for ids in ranges)
        ImportJob.objects.filter(pk=job_id).update(search_pending=False)
    return indexed


def _id_ranges(job_id: int) -> list[tuple[int, int]]:
    """The job's record ids cut into one range per core, or one range when the job is small (none when it has none)."""
    bounds = Record.objects.filter(import_job_id=job_id).aggregate(low=Min("id"), high=Max("id"), count=Count("id"))
    if not bounds["count"]:
        return []
    parts = max(1, min(os.cpu_count() or 1, _SEARCH_CONNECTIONS, bounds["count"] // _SEARCH_RANGE_MIN))
    step = (bounds["high"] - bounds["low"]) // parts + 1
    return [(low, min(low + step - 1, bounds["high"])) for low in range(bounds["low"], bounds["high"] + 1, step)]


def _search_index_range(job_id: int, ids: tuple[int, int], *, own_connection: bool = False) -> int:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO datahub_recordsearch (record_id, document) "
                f"SELECT id, {SEARCH_DOCUMENT} FROM datahub_record "
                "WHERE import_job_id = %s AND id BETWEEN %s AND %s ON CONFLICT (record_id) DO NOTHING",
                [job_id, *ids],
            )
            return cursor.rowcount
    finally:
        if own_connection:
            connection.close()
