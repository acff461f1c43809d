"""Publish a label schema from a file: indented text (one label per line) or a JSON tree."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.label_tree import label_tree_from_text
from accounts.lookups import user_named, workspace_named
from annotation.services import label_schema_create
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "Publish a label schema (a tree of labels) from an indented text file or a .json tree."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--name", required=True, help="schema name; an existing name gets its next version")
        parser.add_argument(
            "--tree",
            help='file: indented lines ("billing" then "  refund") or JSON [{"name", "children"}]; '
            "leave it out for a schema that only asks questions (--rating-scale, --ranking-question …)",
        )
        parser.add_argument("--multiple", action="store_true", help="annotators may pick several labels")
        parser.add_argument("--any-level", action="store_true", help="inner labels may be picked too, not only leaves")
        parser.add_argument(
            "--rating-scale", type=int, default=0, help="ask for a rating from 1 to N (2..10); 0: no rating (default)"
        )
        parser.add_argument(
            "--rating-question", default="", help="what the rating measures, e.g. 'How helpful is the answer?'"
        )
        parser.add_argument("--free-text-question", default="", help="ask for a free-text answer to this question")
        parser.add_argument("--pairwise-question", default="",
                            help="on records with two answers (preference records), ask which is better: A, B or a tie")
        parser.add_argument("--ranking-question", default="",
                            help="group the answers to one prompt into one item and ask to rank them, best first")
        parser.add_argument("--user", help="user name recorded as the author")

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        path = Path(options["tree"] or "")
        try:
            text = path.read_text(encoding="utf-8") if options["tree"] else ""
        except OSError as exc:
            raise CommandError(f"--tree: cannot read {path}: {exc.strerror}") from exc
        try:
            if not options["tree"]:
                tree = []
            elif path.suffix == ".json":
                try:
                    tree = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise CommandError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
            else:
                tree = label_tree_from_text(text)
            schema = label_schema_create(
                workspace=workspace,
                name=options["name"],
                tree=tree,
                multiple=options["multiple"],
                leaf_only=not options["any_level"],
                rating_scale=options["rating_scale"],
                rating_question=options["rating_question"],
                free_text_question=options["free_text_question"],
                pairwise_question=options["pairwise_question"],
                ranking_question=options["ranking_question"],
                created_by=user_named(options["user"]),
            )
        except ApplicationError as exc:
            if exc.where in (
                "rating_scale",
                "rating_question",
                "free_text_question",
                "pairwise_question",
                "ranking_question",
            ):
                raise CommandError(f"--{exc.where.replace('_', '-')}: {exc.message}") from exc
            if not options["tree"]:
                raise CommandError(f"--tree: {exc.message}") from exc
            raise CommandError(f"{path}: {exc}") from exc
        count = schema.labels.count()
        self.stdout.write(f"published label schema {schema} (id {schema.pk}) with {count} labels in {workspace.name!r}")
