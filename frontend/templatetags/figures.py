"""How a page writes a study's figures: the selectors hand over numbers (evaluation.selectors.StudyReport, the same
objects the API serialises) and these filters write them, so a figure is formatted in one place.

A missing figure (None: no votes, no reference answers) is written "–".
"""

from django import template

register = template.Library()

MISSING = "–"


@register.filter
def percent(value: float | None) -> str:
    """A share as a percentage with one decimal: 0.625 → "62.5%"."""
    return MISSING if value is None else f"{value * 100:.1f}%"


@register.filter
def interval(low: float | None, high: float | None) -> str:
    """An interval of shares, `{{ low|interval:high }}`: "50.2% – 69.1%"."""
    return MISSING if low is None or high is None else f"{percent(low)} – {percent(high)}"


@register.filter
def decimals(value: float | None, places: int) -> str:
    """A number with a fixed number of decimals, `{{ p|decimals:3 }}`: 0.25 → "0.250"."""
    return MISSING if value is None else f"{value:.{int(places)}f}"
