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
