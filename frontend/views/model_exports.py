"""The trained model's page: its lineage, its exports with the check made by loading each back, and the buttons that
queue them. Every change goes through training.services.exports, every fetch through training.access."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.access import user_can
from common.errors import ApplicationError
from training.access import LAUNCH, access_model_artifact
from training.models import ModelExport
from training.selectors import model_export_list
from training.services.exports import model_export_request


@login_required
@require_GET
def artifact_detail_view(request, artifact_id: int):
    artifact = access_model_artifact(request.user, artifact_id)
    exports = list(model_export_list(artifact=artifact))
    made = {export.format for export in exports if export.status != ModelExport.Status.FAILED}
    return render(request, "frontend/training/artifact_detail.html", {
        "artifact": artifact,
        "exports": exports,
        "formats": [(value, label) for value, label in ModelExport.Format.choices if value not in made],
        "can_launch": user_can(request.user, LAUNCH, artifact.workspace),
        "is_pending": any(export.status in (ModelExport.Status.QUEUED, ModelExport.Status.RUNNING)
                          for export in exports),
    })


@login_required
@require_POST
def artifact_export_view(request, artifact_id: int):
    artifact = access_model_artifact(request.user, artifact_id, capability=LAUNCH)
    try:
        export = model_export_request(artifact=artifact, format=request.POST.get("format", ""),
                                      requested_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Export “%(format)s” queued: it is made, then loaded back and checked.")
                         % {"format": export.get_format_display()})
    return redirect("training:artifact-detail", artifact_id=artifact.pk)
