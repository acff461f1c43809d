"""How the release pages write their figures and link each one to the evidence it came from (an evidence reference
is {"kind", "id", "name"}: releases.evidence)."""

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

EVIDENCE_PAGES = {
    "study": "evaluation:study-detail",
    "general_eval": "general_eval:detail",
    "training_run": "training:run-detail",
    "artifact": "releases:artifact-detail",
    "base_model": "releases:base-model-detail",
    "scorecard": "releases:scorecard-detail",
}


@register.filter
def evidence_url(reference: dict | None) -> str:
    """The page of an evidence reference, or "" when it has none."""
    if not reference or reference.get("kind") not in EVIDENCE_PAGES:
        return ""
    try:
        return reverse(EVIDENCE_PAGES[reference["kind"]], args=[reference["id"]])
    except NoReverseMatch:
        return ""


@register.filter
def evidence_of(references: list[dict], kind: str) -> dict | None:
    """The first reference of `kind` in a dimension's evidence."""
    return next((r for r in references or [] if r.get("kind") == kind), None)


@register.filter
def size(value: int | float | None) -> str:
    """Bytes in the unit that reads best: 3221225472 → "3.00 GB"."""
    if value is None:
        return "–"
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= factor:
            return f"{value / factor:.2f} {unit}"
    return f"{int(value)} B"


@register.filter
def score(value: float | None) -> str:
    """A 1–5 score or the weighted total: whole numbers without decimals, others with two."""
    if value is None:
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


@register.filter
def weight_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:g}%"


@register.filter
def model_url(model) -> str:
    """The model page of a BaseModel or a ModelArtifact."""
    if model is None:
        return ""
    kind = "artifact-detail" if hasattr(model, "kind") else "base-model-detail"
    return reverse(f"releases:{kind}", args=[model.pk])
