"""Several candidates against one baseline: Holm's step-down correction of their p-values (family-wise error).

See docs/reference.md, "Significance between arms".
"""

from collections.abc import Sequence


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values in the given order (None stays None and is not counted in the family): sorted ascending,
    the i-th of m is multiplied by m - i, made non-decreasing, capped at 1. A hypothesis is rejected at level a when its
    adjusted p-value is at most a, which is Holm's procedure."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def significant(p_value: float | None, level: float) -> bool | None:
    """Whether `p_value` is at most `level`; None when there is no p-value."""
    return None if p_value is None else p_value <= level
