class ApplicationError(Exception):
    """The one error services raise for bad input or a broken precondition.

    `where` names the place (a file and line, a field, a record) so the message can point at it;
    `extra` carries structured detail (for example the rows of an error report).
    """

    def __init__(self, message: str, *, where: str = "", code: str = "invalid", extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.code = code
        self.extra = extra or {}

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def in_use_message(error) -> str:
    """What a refused delete says (django's ProtectedError or RestrictedError): which things still use the object,
    by kind and name, e.g. "it is still used by 2 AI annotators (triage-bot, tagger) and 1 study arm (baseline)"."""
    by_kind: dict[str, list[str]] = {}
    for thing in getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", None) or ():
        meta = thing._meta
        by_kind.setdefault(str(meta.verbose_name), []).append(str(thing))
    if not by_kind:
        return "it is still in use"
    parts = []
    for kind, names in sorted(by_kind.items()):
        shown = ", ".join(names[:3]) + (f", and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{len(names)} {kind}{'' if len(names) == 1 else 's'} ({shown})")
    return "it is still used by " + " and ".join(parts)
