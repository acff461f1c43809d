"""Export a trained model and verify it, in this process: `manage.py export_model 12 --format onnx`."""

from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from training.models import ModelArtifact, ModelExport
from training.services.exports import model_export_request, model_export_run


class Command(BaseCommand):
    help = ("Export a model artifact (merged bf16 safetensors, ONNX, or the vLLM command), load the export back and "
            "check that it answers a prompt with the source model's tokens. Exits non-zero when it does not.")

    def add_arguments(self, parser):
        parser.add_argument("artifact", type=int, help="the model artifact's id")
        parser.add_argument("--format", required=True, choices=ModelExport.Format.values, help="what to export")

    def handle(self, *args, artifact: int, format: str, **options):
        row = ModelArtifact.objects.select_related("base_model", "run", "workspace").filter(pk=artifact).first()
        if row is None:
            raise CommandError(f"artifact: no model artifact {artifact}")
        try:
            export = model_export_request(artifact=row, format=format, enqueue=False)
        except ApplicationError as error:
            raise CommandError(f"{error.where}: {error.message}") from error
        export = model_export_run(export=export)
        if export.status == ModelExport.Status.FAILED:
            raise CommandError(f"export {export.pk} failed: {export.error}")
        check = export.verification
        self.stdout.write(export.command or str(export.path))
        self.stdout.write(f"check ({check['runtime']}): source {check['source_tokens']}, "
                          f"export {check['export_tokens']}")
        if not export.is_verified:
            raise CommandError(f"export {export.pk} answers differently from its source model")
        self.stdout.write(f"export {export.pk} verified: the same {len(check['export_tokens'])} tokens")
