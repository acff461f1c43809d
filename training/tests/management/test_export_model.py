import pytest
from django.core.management import CommandError, call_command

from training.models import ModelExport

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_export_model_makes_and_verifies_the_onnx_export_in_this_process(tiny_artifact, capsys):
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    call_command("export_model", str(tiny_artifact.pk), format="onnx")

    export = ModelExport.objects.get()
    assert (export.status, export.is_verified) == (ModelExport.Status.SUCCEEDED, True)
    out = capsys.readouterr().out
    assert f"export {export.pk} verified: the same 12 tokens" in out
    assert DBTaskResult.objects.count() == 0  # run here, not queued for a worker


def test_export_model_names_what_is_wrong(tiny_artifact):
    with pytest.raises(CommandError) as caught:
        call_command("export_model", "999999", format="onnx")
    assert str(caught.value) == "artifact: no model artifact 999999"
    call_command("export_model", str(tiny_artifact.pk), format="vllm")
    with pytest.raises(CommandError) as caught:
        call_command("export_model", str(tiny_artifact.pk), format="vllm")
    assert str(caught.value) == "format: model artifact 'tiny-tuned' already has a vllm export (succeeded)"
