"""Leave a rater's votes out of a study's results, or count them again; or list every rater's reliability."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named
from common.errors import ApplicationError
from evaluation.models import Study
from evaluation.reliability import study_rater_reliability
from evaluation.services import study_rater_exclude, study_rater_include


class Command(BaseCommand):
    help = (
        "Print a study's rater reliability as JSON; with --exclude or --include, change whether a rater's votes count."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", type=int, required=True, help="the study id")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--exclude", metavar="RATER", help="leave this rater's votes out of the results")
        action.add_argument("--include", metavar="RATER", help="count this rater's votes again")
        parser.add_argument("--reason", default="", help="why the rater is left out (with --exclude)")
        parser.add_argument("--user", help="who decides (recorded in the study's history)")

    def handle(self, *args, **options):
        study = Study.objects.filter(pk=options["study"]).first()
        if study is None:
            raise CommandError(f"--study {options['study']}: no study with this id")
        name = options["exclude"] or options["include"]
        if name:
            option = "--exclude" if options["exclude"] else "--include"
            rater = get_user_model().objects.filter(username=name).first()
            if rater is None:
                raise CommandError(f"{option}: no user named {name!r}")
            actor = user_named(options["user"])
            try:
                if options["exclude"]:
                    study_rater_exclude(study=study, rater=rater, actor=actor, reason=options["reason"])
                else:
                    study_rater_include(study=study, rater=rater, actor=actor)
            except ApplicationError as error:
                raise CommandError(f"{option} {name}: {error.message}") from error
        self.stdout.write(
            json.dumps([r.as_dict() for r in study_rater_reliability(study=study)], ensure_ascii=False, indent=2)
        )
