"""Browser pages of frozen dataset versions: their records by split, exports, leakage, the card and diffs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.access import user_can
from common.errors import ApplicationError
from datahub.access import access_version
from datahub.downloads import export_shape_check, export_split_check, version_hf_response, version_jsonl_response
from datahub.selectors import (
    version_card,
    version_diff,
    version_entry_list,
    version_leakage,
)
from datahub.splits import SPLITS
from releases.lineage import version_models
from training.selectors import version_card_base_model, version_card_base_models, version_token_lengths

ENTRIES_PER_PAGE = 25


@login_required
@require_GET
def version_detail_view(request, version_id: int):
    version = access_version(request.user, version_id)
    split = request.GET.get("split") or None
    if split not in (None, *SPLITS):
        split = None
    entries = Paginator(version_entry_list(version=version, split=split), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    total = sum(version.counts.values())
    # Requested (the ratios the version was frozen with) beside achieved (each split's share of the records).
    exports = [
        {
            "split": s,
            "count": version.counts.get(s, 0),
            "url": reverse("datahub:version-export", args=[version.pk]) + f"?split={s}",
            "requested": 100 * version.ratios[s] if s in version.ratios else None,
            "achieved": 100 * version.counts.get(s, 0) / total if total else 0.0,
        }
        for s in SPLITS
    ]
    context = {
        "version": version,
        "dataset": version.dataset,
        "entries": entries,
        "split": split,
        "exports": exports,
        "total": total,
        "splits": SPLITS,
        # The models trained on it, with their verdicts and scores (releases.lineage), for those who see models.
        "trained_models": version_models(version=version)
        if user_can(request.user, "training.view", version.dataset.workspace) else None,
    }
    return render(request, "frontend/datahub/version_detail.html", context)


@login_required
@require_GET
def version_export_view(request, version_id: int):
    version = access_version(request.user, version_id)
    try:
        split = export_split_check(request.GET.get("split"))
        shape = export_shape_check(request.GET.get("shape"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("datahub:version-detail", version_id=version.pk)
    return version_jsonl_response(version, split, shape)


@login_required
@require_GET
def version_export_hf_view(request, version_id: int):
    version = access_version(request.user, version_id)
    try:
        shape = export_shape_check(request.GET.get("shape"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("datahub:version-detail", version_id=version.pk)
    return version_hf_response(version, shape)


@login_required
@require_GET
def version_leakage_view(request, version_id: int):
    """The leakage check, run on request (it reads every train and test prompt); htmx swaps it into the version page."""
    version = access_version(request.user, version_id)
    return render(
        request, "frontend/datahub/_leakage.html", {"version": version, "report": version_leakage(version=version)}
    )


@login_required
@require_GET
def version_diff_view(request, version_id: int):
    version = access_version(request.user, version_id)
    other = access_version(request.user, request.GET.get("against"))
    if other.dataset_id != version.dataset_id:
        messages.error(request, _("Both versions must belong to the same dataset."))
        return redirect("datahub:version-detail", version_id=version.pk)
    diff = version_diff(old=other, new=version)
    return render(request, "frontend/datahub/_diff.html", {"version": version, "other": other, "diff": diff})


@login_required
@require_GET
def version_card_view(request, version_id: int):
    """The dataset card of a version: counts, sources, kind mix, length histogram, with charts. Lengths are characters
    unless ?base_model=<id> (a base model of the version's workspace) asks for tokens through its chat template."""
    version = access_version(request.user, version_id)
    base_models = list(version_card_base_models(user=request.user, version=version))
    base_model_id = request.GET.get("base_model") or ""
    base_model = (
        version_card_base_model(user=request.user, version=version, base_model_id=base_model_id)
        if base_model_id
        else None
    )
    card = version_card(version=version)
    tokens = None
    if base_model is not None:
        try:
            tokens = version_token_lengths(version=version, base_model=base_model)
        except ApplicationError as error:
            messages.error(request, error.message)
    words = {"records": _("Records"), "mix": _("Kinds per split"), "histogram": _("Record lengths"),
             "length": _("Length (tokens)") if tokens else _("Length (characters)")}
    chart = {"lengths": tokens["histogram"] if tokens else card["lengths"], "mix": card["mix"], "words": words}
    return render(request, "frontend/datahub/version_card.html",
                  {"version": version, "dataset": version.dataset, "card": card, "chart": chart, "tokens": tokens,
                   "base_models": base_models, "base_model": base_model})
