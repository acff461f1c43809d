"""Move a project to a newer version of its label schema, mapping old label paths to new ones."""

from django.core.management.base import BaseCommand, CommandError

from accounts.lookups import user_named
from annotation.management.commands._lookup import project_numbered
from annotation.selectors import label_schema_by_name
from annotation.services import annotation_project_schema_move
from common.errors import ApplicationError


class Command(BaseCommand):
    help = ("Move a project to a newer published version of its label schema. Labels that keep their path need no "
            "mapping; give --map old/path=new/path for each one that changes.")

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="annotation project id")
        parser.add_argument("--schema-version", type=int, required=True, help="the schema version to move to")
        parser.add_argument(
            "--map", action="append", default=[], metavar="OLD=NEW", help="old label path = new label path (repeat)"
        )
        parser.add_argument("--user", help="user name recorded as the one who moved it")

    def handle(self, *args, **options):
        project = project_numbered(options["project"])
        mapping = {}
        for pair in options["map"]:
            old, sep, new = pair.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise CommandError(f"--map: {pair!r} is not old/path=new/path")
            mapping[old.strip()] = new.strip()
        schema = label_schema_by_name(
            workspace=project.workspace, name=project.schema.name, version=options["schema_version"]
        )
        if schema is None:
            raise CommandError(
                f"--schema-version: label schema {project.schema.name!r} has no version {options['schema_version']}"
            )
        try:
            move = annotation_project_schema_move(
                project=project, schema=schema, mapping=mapping, moved_by=user_named(options["user"])
            )
        except ApplicationError as exc:
            option = {"schema": "--schema-version", "mapping": "--map"}.get(exc.where, "--project")
            raise CommandError(f"{option}: {exc.message}") from exc
        changed = {old: new for old, new in move.mapping.items() if old != new}
        self.stdout.write(
            f"moved project {project.name!r} from {move.from_schema} to {move.to_schema}: {len(move.mapping)} labels "
            f"mapped, {len(changed)} renamed"
        )
