"""Open an annotation project over a frozen dataset version: one item per record."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.lookups import user_named, workspace_named
from annotation.management.commands._lookup import schema_named, version_named
from annotation.models import AnnotationProject
from annotation.services import annotation_project_create, annotation_project_layers_set
from annotation.services.reviews import LAYER_FIELDS
from common.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an annotation project over a dataset version with a label schema."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace name")
        parser.add_argument("--name", required=True, help="project name")
        parser.add_argument("--dataset", required=True, help="dataset name")
        parser.add_argument("--dataset-version", type=int, help="dataset version number (default: the newest)")
        parser.add_argument("--schema", required=True, help="label schema name")
        parser.add_argument("--schema-version", type=int, help="schema version (default: the newest)")
        parser.add_argument("--overlap", type=int, default=1, help="annotations wanted per item (default 1)")
        parser.add_argument("--instructions", default="", help="instructions shown to annotators")
        parser.add_argument("--user", help="user name recorded as the creator")
        parser.add_argument(
            "--mode",
            choices=AnnotationProject.Mode.values,
            default=AnnotationProject.Mode.HUMAN_ONLY,
            help="human_only (default): AI annotators may not run; ai_assists: an AI is one more annotator; "
            "ai_first: AI answers complete their items and all go to the reviewers' re-check queue",
        )

    def handle(self, *args, **options):
        workspace = workspace_named(options["workspace"])
        version = version_named(workspace, options["dataset"], options["dataset_version"])
        schema = schema_named(workspace, options["schema"], options["schema_version"])
        self.stderr.write(f"creating project {options['name']!r} over {version} with {schema} ...")
        creator = user_named(options["user"])
        try:
            with transaction.atomic():
                project = annotation_project_create(
                    workspace=workspace,
                    name=options["name"],
                    dataset_version=version,
                    schema=schema,
                    overlap=options["overlap"],
                    instructions=options["instructions"],
                    created_by=creator,
                )
                if options["mode"] != project.mode:
                    layers = {field: getattr(project, field) for field in LAYER_FIELDS if field != "mode"}
                    project = annotation_project_layers_set(
                        project=project, mode=options["mode"], set_by=creator, **layers
                    )
        except ApplicationError as exc:
            raise CommandError(
                f"--{exc.where}: {exc.message}" if exc.where in {"overlap", "name"} else str(exc)
            ) from exc
        mode = "" if project.mode == AnnotationProject.Mode.HUMAN_ONLY else f", mode {project.mode}"
        self.stdout.write(
            f"created annotation project {project.name!r} (id {project.pk}) with {project.tasks.count()} items{mode}"
        )
