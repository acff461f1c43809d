"""Template filters for showing stored settings the way a person reads them, never as Python's repr."""

from django import template
from django.utils.translation import gettext as _

from dedupe.embeddings import embedding_model_label

register = template.Library()

MODEL_KEYS = {"embedding_model", "model"}


def _value_text(key: str, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(key, item) for item in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{_key_text(k)}: {_value_text(k, v)}" for k, v in value.items()) or "—"
    if key in MODEL_KEYS and isinstance(value, str):
        return embedding_model_label(value)
    return str(value)


def _key_text(key) -> str:
    return str(key).replace("_", " ")


@register.filter
def detail_rows(mapping) -> list[tuple[str, str]]:
    """A settings dict (a run's options, a version's operation detail) as (label, text) rows: underscores become
    spaces, booleans yes / no, lists comma-separated, the built-in embedding model by name."""
    if not isinstance(mapping, dict):
        return []
    return [(_key_text(key), _value_text(key, value)) for key, value in mapping.items()]


@register.filter
def detail_model(name: str) -> str:
    """An embedding model as a page names it (the built-in one by name, not by its path in the virtualenv)."""
    return embedding_model_label(name) if name else "—"
