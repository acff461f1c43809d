"""User synonym tables for EDA (uploaded as TSV or JSON)."""

from django.db import transaction

from augmentation.eda import table_parse
from augmentation.models import SynonymTable
from common.errors import ApplicationError
from common.history import history_record

MAX_BYTES = 5_000_000


@transaction.atomic
def synonym_table_create(
    *, workspace, name: str, content: bytes | str, file_name: str = "table", created_by=None
) -> SynonymTable:
    """Parse and store a table; a name already used in the workspace is refused."""
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise ApplicationError(f"the file is larger than {MAX_BYTES // 1_000_000} MB", where=file_name)
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApplicationError(f"not UTF-8 text (byte {exc.start})", where=file_name) from exc
    name = name.strip()
    if not name:
        raise ApplicationError("give the table a name", where="name")
    if SynonymTable.objects.filter(workspace=workspace, name=name).exists():
        raise ApplicationError(f"a synonym table named {name!r} exists already", where="name")
    table = SynonymTable.objects.create(
        workspace=workspace, name=name, entries=table_parse(content, file_name=file_name), created_by=created_by
    )
    history_record(actor=created_by, target=table, verb="created", after={"words": len(table.entries)})
    return table
