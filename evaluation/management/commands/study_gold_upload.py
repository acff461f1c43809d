"""Add gold comparisons to an open study from a JSONL file: prompts each with a better and a worse answer."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named
from common.errors import ApplicationError
from evaluation.models import Study
from evaluation.services import gold_parse_jsonl, study_gold_upload


class Command(BaseCommand):
    help = (
        'Add gold comparisons to an open study. Each line of the file: {"messages": [...], "chosen": "better answer", '
        '"rejected": "worse answer"}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", type=int, required=True, help="the study id")
        parser.add_argument("--file", required=True, help="the JSONL file of gold prompts")
        parser.add_argument("--user", help="who adds them (recorded in the study's history)")

    def handle(self, *args, **options):
        study = Study.objects.filter(pk=options["study"]).first()
        if study is None:
            raise CommandError(f"--study {options['study']}: no study with this id")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"--file {path}: no such file")
        actor = user_named(options["user"])
        try:
            added = study_gold_upload(study=study, items=gold_parse_jsonl(data=path.read_bytes()), actor=actor)
        except ApplicationError as error:
            raise CommandError(f"{error.where}: {error.message}") from error
        self.stdout.write(f"added {added} gold comparisons to study {study.pk}")
