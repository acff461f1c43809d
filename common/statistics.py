"""Statistics more than one app relies on, in plain Python (no database, no Django).

- `wilson_interval`: the 95% interval of a proportion, used for the support rate of a study, a rater's gold accuracy
  and the online win shares of production feedback.
- Agreement between raters: Krippendorff's alpha for any level of measurement with missing values (annotation
  projects, and the raters of a blind study), Cohen's and Fleiss' kappa, Kendall's tau-b for rankings, and a
  path-aware distance for label trees.

Data shapes for the agreement coefficients:
- a reliability matrix is a list of units, each a list of the values the coders gave (None where a coder gave none);
  the coders need not be the same across units, only the values of one unit are compared with each other.
- Fleiss' kappa takes, per item, how many raters chose each category.

The facts they rest on (the Wilson interval's checks, which coefficient for which data) are in docs/reference.md,
"Blind pairwise statistics" and "Agreement and label quality".
"""

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from itertools import combinations

Z_95 = 1.959963984540054  # the two-sided 95% normal quantile

Distance = Callable[[Hashable, Hashable], float]


def wilson_interval(successes: float, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion. `successes` may be fractional (ties count half).

    Precondition: 0 <= successes <= n and n > 0.
    """
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one observation")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# ---------------------------------------------------------------- agreement


def _nominal(a, b) -> float:
    return 0.0 if a == b else 1.0


def _interval(a, b) -> float:
    return (float(a) - float(b)) ** 2


def path_distance(a: str, b: str) -> float:
    """Distance between two label paths of a tree ("billing/refund"): 1 - shared leading levels / the deeper depth,
    so siblings disagree less than labels in different branches. Squared, like the other alpha distances."""
    if a == b:
        return 0.0
    left, right = a.split("/"), b.split("/")
    shared = 0
    for x, y in zip(left, right, strict=False):
        if x != y:
            break
        shared += 1
    return (1 - shared / max(len(left), len(right))) ** 2


def coincidences(units: Sequence[Sequence]) -> dict[tuple, float]:
    """Krippendorff's coincidence matrix: for every unit with two or more values, each ordered pair of its values from
    different coders adds 1 / (values in the unit - 1).

    Counted per distinct value rather than per pair of coders, so a unit costs its number of distinct values squared:
    a study's comparisons with many votes each stay cheap."""
    matrix: dict[tuple, float] = defaultdict(float)
    for unit in units:
        counts = Counter(v for v in unit if v is not None)
        m = sum(counts.values())
        if m < 2:
            continue
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - 1) if c == k else n_c * n_k
                if pairs:
                    matrix[(c, k)] += pairs / (m - 1)
    return matrix


def krippendorff_alpha(
    units: Sequence[Sequence], *, level: str = "nominal", distance: Distance | None = None
) -> float | None:
    """Krippendorff's alpha over a reliability matrix (units x values, None for missing).

    `level`: "nominal", "ordinal" or "interval" (numbers), or pass `distance` (a squared difference function, e.g.
    path_distance for label trees). None when fewer than two pairable values exist or every value is the same.
    """
    matrix = coincidences(units)
    totals: Counter = Counter()
    for (c, _), weight in matrix.items():
        totals[c] += weight
    n = sum(totals.values())
    if n <= 1 or len(totals) < 2:
        return None
    if distance is None:
        if level == "nominal":
            distance = _nominal
        elif level == "interval":
            distance = _interval
        elif level == "ordinal":
            distance = _ordinal_distance(totals)
        else:
            raise ValueError(f"unknown level of measurement {level!r}")
    observed = sum(weight * distance(c, k) for (c, k), weight in matrix.items())
    values = list(totals)
    expected = sum(totals[c] * totals[k] * distance(c, k) for c in values for k in values) / (n - 1)
    if expected == 0:
        return None
    return 1 - observed / expected


def _ordinal_distance(totals: Counter) -> Distance:
    """Ordinal distance: the squared count of values between c and k in the pooled data, halves at the ends."""
    ranks = sorted(totals)
    position = {value: i for i, value in enumerate(ranks)}

    def distance(c, k) -> float:
        if c == k:
            return 0.0
        lo, hi = sorted((position[c], position[k]))
        between = sum(totals[ranks[g]] for g in range(lo, hi + 1))
        return (between - (totals[c] + totals[k]) / 2) ** 2

    return distance


def cohen_kappa(first: Sequence, second: Sequence) -> float | None:
    """Cohen's kappa of two raters over the same items (pairs with a missing value are left out)."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from, per item, the number of raters who chose each category (same number of raters per item)."""
    if not counts:
        return None
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError("every item needs the same number of raters, at least two")
    items = len(counts)
    per_item = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in counts]
    observed = sum(per_item) / items
    shares = [sum(row[j] for row in counts) / (items * raters) for j in range(len(counts[0]))]
    expected = sum(p * p for p in shares)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Kendall's tau-b between two rankings (or scores) of the same items, ties allowed."""
    if len(first) != len(second):
        raise ValueError("both rankings must cover the same items")
    concordant = discordant = ties_first = ties_second = 0
    for i, j in combinations(range(len(first)), 2):
        a, b = first[i] - first[j], second[i] - second[j]
        if a == 0 and b == 0:
            continue
        if a == 0:
            ties_first += 1
        elif b == 0:
            ties_second += 1
        elif (a > 0) == (b > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = ((concordant + discordant + ties_first) * (concordant + discordant + ties_second)) ** 0.5
    if denominator == 0:
        return None
    return (concordant - discordant) / denominator
