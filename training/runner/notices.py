"""Warnings about what a run trains on, kept for the platform as well as the log: TRL's own (it logs them once, e.g.
"The tokenized prompt is not a prefix of the tokenized prompt+completion…") and the runner's, one JSON line each in
out_dir/warnings.jsonl (training.runner.files.WARNINGS_FILE), which the run page shows."""

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from training.runner.files import WARNINGS_FILE

_RANK = re.compile(r"^\[RANK \d+\] ")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class WarningsRecorder(logging.Handler):
    """Appends each distinct warning to out_dir/warnings.jsonl (from the main process only, so several GPUs write
    each warning once); as a logging handler it records what TRL logs at WARNING or above."""

    def __init__(self, out_dir: Path):
        super().__init__(level=logging.WARNING)
        self.path = Path(out_dir) / WARNINGS_FILE
        self.seen: set[str] = set()
        self.main_process = os.environ.get("RANK", "0") == "0"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add("trl", _RANK.sub("", record.getMessage()))
        except Exception:  # a handler must never break the run it watches
            self.handleError(record)

    def add(self, source: str, message: str) -> None:
        """Record `message` unless one like it is recorded already: TRL warns "once" per row quoted in the message, so
        messages that differ only inside quotes count as one (the first is kept)."""
        key = _QUOTED.sub("…", message)
        if key in self.seen or not self.main_process:
            return
        self.seen.add(key)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"source": source, "message": message}, ensure_ascii=False) + "\n")


@contextmanager
def warnings_recorded(out_dir: Path) -> Iterator[WarningsRecorder]:
    """Record TRL's warnings while the block runs; the recorder also takes the runner's own (`add("whetstone", …)`)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    recorder = WarningsRecorder(out_dir)
    logger = logging.getLogger("trl")
    logger.addHandler(recorder)
    try:
        yield recorder
    finally:
        logger.removeHandler(recorder)
