"""Write a frozen version (or one split) as TRL JSONL."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from datahub.downloads import export_split_check
from datahub.export import version_jsonl_lines
from accounts.lookups import workspace_named
from datahub.lookups import dataset_named
from datahub.selectors import version_by_number
from datahub.splits import SPLITS

PROGRESS_EVERY = 10_000


class Command(BaseCommand):
    help = "Export a dataset version as TRL JSONL (messages / prompt-chosen-rejected / prompt-completion-label)."

    def add_arguments(self, parser):
        # --version names the dataset version here, so Django's own --version (print Django's version) gives way.
        for action in list(parser._actions):
            if "--version" in action.option_strings:
                parser._handle_conflict_resolve(None, [("--version", action)])
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--version", required=True, type=int, help="version number")
        parser.add_argument("--split", choices=SPLITS, help="only this split (default: every split)")
        parser.add_argument("--out", required=True, type=Path, help="the JSONL file to write")

    def handle(self, *args, **options):
        dataset = dataset_named(workspace_named(options["workspace"]), options["dataset"])
        version = version_by_number(dataset=dataset, number=options["version"])
        if version is None:
            raise CommandError(f"--version: dataset {dataset.name!r} has no version {options['version']}")
        try:
            split = export_split_check(options["split"])
        except ApplicationError as exc:
            raise CommandError(f"--split: {exc.message}") from exc
        out: Path = options["out"]
        if out.is_dir():
            raise CommandError(f"--out: {out} is a directory; give a file name")
        total = version.counts.get(split, 0) if split else sum(version.counts.values())
        count = self._write(version, split, out, total)
        self.stderr.write("")
        what = f"split {split!r} of " if split else ""
        self.stdout.write(f"wrote {count} rows ({what}{dataset.name!r} v{version.number}) to {out}")

    def _write(self, version, split: str | None, out: Path, total: int) -> int:
        """Write to a temporary file beside `out` and rename it at the end: a failed export leaves no half file."""
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        count = 0
        try:
            with open(partial, "w", encoding="utf-8") as handle:
                reported = 0
                for text in version_jsonl_lines(version, split):
                    handle.write(text)
                    # The export yields whole lines, one or a page at a time; JSON escapes newlines inside strings.
                    count += text.count("\n")
                    if count - reported >= PROGRESS_EVERY:
                        reported = count
                        self.stderr.write(f"\rwrote {count}/{total} rows", ending="")
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        self.stderr.write(f"\rwrote {count}/{total} rows", ending="")
        return count
