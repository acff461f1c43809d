"""A rating study's rubric (its criteria, each scored 1–5) and the significance level a study's comparisons use."""

from common.errors import ApplicationError

CRITERIA_LIMIT = 8
CRITERION_NAME_MAX = 64
CRITERION_DESCRIPTION_MAX = 500
DEFAULT_RUBRIC = [{"name": "overall", "description": ""}]


def rubric_check(rubric) -> list[dict]:
    """The criteria as [{"name", "description"}]: each given as a name or {"name", "description"}; names non-empty,
    distinct, at most CRITERION_NAME_MAX characters, at most CRITERIA_LIMIT of them. None or empty: one "overall"."""
    if not rubric:
        return [dict(criterion) for criterion in DEFAULT_RUBRIC]
    if not isinstance(rubric, list):
        raise ApplicationError("the rubric must be a list of criteria", where="rubric")
    if len(rubric) > CRITERIA_LIMIT:
        raise ApplicationError(f"{len(rubric)} criteria; the limit is {CRITERIA_LIMIT}", where="rubric")
    clean: list[dict] = []
    for i, criterion in enumerate(rubric):
        where = f"rubric[{i}]"
        if isinstance(criterion, str):
            criterion = {"name": criterion}
        if not isinstance(criterion, dict):
            raise ApplicationError('a criterion is a name or {"name", "description"}', where=where)
        name = criterion.get("name")
        name = name.strip() if isinstance(name, str) else ""
        description = criterion.get("description") or ""
        if not name:
            raise ApplicationError("a criterion needs a name", where=f"{where}.name")
        if len(name) > CRITERION_NAME_MAX:
            raise ApplicationError(f"the name is {len(name)} characters; the limit is {CRITERION_NAME_MAX}",
                                   where=f"{where}.name")
        if not isinstance(description, str) or len(description) > CRITERION_DESCRIPTION_MAX:
            raise ApplicationError(f"the description must be text of at most {CRITERION_DESCRIPTION_MAX} characters",
                                   where=f"{where}.description")
        if any(c["name"] == name for c in clean):
            raise ApplicationError(f"the criterion {name!r} is given twice", where=f"{where}.name")
        clean.append({"name": name, "description": description.strip()})
    return clean


def significance_level_check(value) -> float:
    """A level strictly between 0 and 0.5 (0.05 by convention)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ApplicationError(f"must be a number above 0 and below 0.5; got {value!r}", where="significance_level")
    return float(value)
