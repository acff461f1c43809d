"""Turn production feedback events into a dataset version ready for DPO or KTO (and expert review of conflicts)."""

import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named, workspace_named
from common.errors import ApplicationError
from datahub.selectors import dataset_by_name
from feedback.models import FeedbackSource
from feedback.services import feedback_dataset_build


def moment(text: str | None, option: str):
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            f"{option}: {text!r} is not an ISO 8601 date or time (e.g. 2026-11-01 or 2026-11-01T08:00+08:00)"
        ) from exc
    if value.tzinfo is None:
        from django.utils import timezone

        value = timezone.make_aware(value)
    return value


class Command(BaseCommand):
    help = (
        "Apply the feedback rules (choice -> DPO pairs, like/dislike -> KTO rows and pairs, edit -> SFT + DPO) to the "
        "events of a time range and freeze the result as a dataset version; conflicts go to an annotation project."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--dataset", required=True, help="dataset name: created if new, added to if it exists")
        parser.add_argument(
            "--source", action="append", default=[], help="feedback source name (repeatable; default all)"
        )
        parser.add_argument("--since", help="events that occurred at or after this time (ISO 8601)")
        parser.add_argument("--until", help="events that occurred before this time (ISO 8601)")
        parser.add_argument(
            "--no-review", action="store_true", help="do not open an expert review project for conflicts"
        )
        parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
        parser.add_argument("--user", help="who runs it (recorded in the history)")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        sources = []
        for name in options["source"]:
            source = FeedbackSource.objects.filter(workspace=workspace, name=name).first()
            if source is None:
                raise CommandError(f"--source: no feedback source named {name!r} in workspace {workspace.name!r}")
            sources.append(source)
        dataset = dataset_by_name(workspace_name=workspace.name, dataset_name=options["dataset"])
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stderr.write(
                f"\rapplied the rules to {done}/{total} events ({100 * done // total}%, {rate:,.0f} events/s)",
                ending="",
            )
            self.stderr.flush()

        try:
            export = feedback_dataset_build(
                workspace=workspace,
                dataset=dataset,
                dataset_name=options["dataset"],
                sources=sources,
                since=moment(options["since"], "--since"),
                until=moment(options["until"], "--until"),
                review=not options["no_review"],
                seed=options["seed"],
                created_by=user_named(options["user"]),
                on_progress=progress,
            )
        except ApplicationError as exc:
            raise CommandError(
                f"--{exc.where}: {exc.message}" if exc.where in ("since", "dataset_name") else exc.message
            ) from exc
        self.stderr.write("")
        version, counts = export.version, export.counts
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(counts["by_rule"].items()))
        self.stdout.write(
            f"{version.dataset.name!r} v{version.number} (operation feedback): {counts['records']} records from "
            f"{counts['events']} events ({rules}); {counts['created']} new; "
            f"splits {version.counts}"
        )
        if export.review_project is not None:
            self.stdout.write(f"{counts['review']} conflicting answers sent to review: annotation project "
                              f"{export.review_project.name!r} (id {export.review_project.pk})")
