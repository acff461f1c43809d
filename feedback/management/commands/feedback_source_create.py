"""Register a production app as a feedback source and print its ingest token (shown this once)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named, workspace_named
from common.errors import ApplicationError
from feedback.models import PII_KINDS
from feedback.services import feedback_source_create, feedback_token_create


class Command(BaseCommand):
    help = "Create a feedback source (a production app) and print its ingest token, which is not shown again."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--name", required=True, help="source name, unique in the workspace")
        parser.add_argument("--no-pii-scrub", action="store_true", help="store text as sent (default: scrub PII)")
        parser.add_argument(
            "--pii-kinds", default=",".join(PII_KINDS), help=f"kinds to scrub (default {','.join(PII_KINDS)})"
        )
        parser.add_argument(
            "--rate-limit", type=int, default=600_000, help="events per minute, 0 for none (default 600000)"
        )
        parser.add_argument("--user", help="who creates it (recorded in the history)")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        user = user_named(options["user"])
        kinds = [kind.strip() for kind in options["pii_kinds"].split(",") if kind.strip()]
        try:
            source = feedback_source_create(
                workspace=workspace,
                name=options["name"],
                pii_scrub=not options["no_pii_scrub"],
                pii_kinds=kinds,
                rate_limit_per_minute=options["rate_limit"],
                created_by=user,
            )
            _, key = feedback_token_create(source=source, created_by=user)
        except ApplicationError as exc:
            option = {"pii_kinds": "--pii-kinds", "rate_limit_per_minute": "--rate-limit", "name": "--name"}.get(
                exc.where, exc.where
            )
            raise CommandError(f"{option}: {exc.message}") from exc
        self.stderr.write(
            f"created feedback source {source.name!r} (id {source.pk}) in {workspace.name!r}; the token is shown once:"
        )
        self.stdout.write(key)
