"""The release gate: what promoting a slot's candidate to production needs, each condition with its state, the reason
and the evidence it was read from.

    (a) study       a blind pairwise study of the candidate against the production model whose support-rate interval
                    (Wilson 95%) lies above the slot's band (50% unless the PM sets another): the interval's low end
                    above the band;
    (b) general     the latest finished general-capability check of the candidate (against the production model or
                    the candidate's base) shows no regression (evaluation.general.statistics);
    (c) scorecard   the candidate's latest finished scorecard is complete with a weighted total of at least 4.

Anything missing blocks like a failure; the page says which condition and why.
"""

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext as _

from evaluation.general.selectors import general_eval_report
from evaluation.models import Arm, GeneralEval
from evaluation.selectors import study_results
from releases.evidence import STUDY_STATES_WITH_RESULTS, ref
from releases.models import Deployment, Scorecard
from releases.scoring import DIMENSION_LABELS, READY_TO_SHIP
from training.models import BaseModel

PASS, FAIL, MISSING = "pass", "fail", "missing"
STUDY, GENERAL, SCORECARD = "study", "general", "scorecard"


@dataclass(frozen=True)
class Condition:
    key: str
    state: str  # PASS, FAIL or MISSING
    reason: str
    evidence: dict | None  # {"kind", "id", "name"}

    @property
    def passed(self) -> bool:
        return self.state == PASS

    def as_dict(self) -> dict:
        return {"key": self.key, "state": self.state, "reason": self.reason, "evidence": self.evidence}


@dataclass(frozen=True)
class Gate:
    conditions: list[Condition]

    @property
    def passed(self) -> bool:
        return bool(self.conditions) and all(c.passed for c in self.conditions)

    @property
    def blocking(self) -> list[Condition]:
        return [c for c in self.conditions if not c.passed]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "conditions": [c.as_dict() for c in self.conditions]}


def _model_q(prefix: str, model) -> Q:
    field = "base_model" if isinstance(model, BaseModel) else "artifact"
    return Q(**{f"{prefix}{field}": model})


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def study_condition(*, candidate, production, band: float) -> Condition:
    arm = (Arm.objects.filter(_model_q("", candidate), is_baseline=False, study__status__in=STUDY_STATES_WITH_RESULTS)
           .filter(study__in=Arm.objects.filter(_model_q("", production), is_baseline=True).values("study"))
           .select_related("study").order_by("-study__created_at", "-study_id").first())
    if arm is None:
        return Condition(STUDY, MISSING, _("No blind study of the candidate against the production model."), None)
    evidence = ref("study", arm.study)
    result = next((r for r in study_results(study=arm.study) if r.candidate.pk == arm.pk), None)
    summary = result.summary if result is not None else None
    if summary is None or summary.interval_low is None:
        return Condition(STUDY, MISSING, _("The study has no votes yet."), evidence)
    values = {"low": _pct(summary.interval_low), "high": _pct(summary.interval_high), "band": _pct(band),
              "votes": summary.votes}
    if summary.interval_low > band:
        return Condition(STUDY, PASS, _("Support rate interval %(low)s – %(high)s lies above %(band)s "
                                        "(%(votes)s votes).") % values, evidence)
    return Condition(STUDY, FAIL, _("Support rate interval %(low)s – %(high)s does not lie above %(band)s "
                                    "(%(votes)s votes).") % values, evidence)


def general_condition(*, candidate, production) -> Condition:
    baselines = _model_q("baseline_", production)
    if not isinstance(candidate, BaseModel):
        baselines |= Q(baseline_base_model_id=candidate.base_model_id)
    check = (GeneralEval.objects.filter(_model_q("candidate_", candidate), baselines, status=GeneralEval.Status.DONE)
             .order_by("-created_at", "-pk").first())
    if check is None:
        return Condition(GENERAL, MISSING, _("No finished general-capability check of the candidate."), None)
    evidence = ref("general_eval", check)
    overall = general_eval_report(general_eval=check).overall
    if overall is None or not overall.verdict:
        return Condition(GENERAL, MISSING, _("The check has no result for the candidate."), evidence)
    change = {"change": f"{overall.change * 100:+.1f}", "tolerance": f"{check.tolerance * 100:g}"}
    if overall.verdict == "regressed":
        return Condition(GENERAL, FAIL, _("General ability regressed: %(change)s accuracy points, beyond the "
                                          "tolerance of %(tolerance)s, and significant.") % change, evidence)
    return Condition(GENERAL, PASS, _("No regression: %(change)s accuracy points (tolerance %(tolerance)s).") % change,
                     evidence)


def scorecard_condition(*, candidate) -> Condition:
    if isinstance(candidate, BaseModel):
        return Condition(SCORECARD, MISSING, _("A base model has no scorecard; promote a trained model."), None)
    scorecard = (Scorecard.objects.filter(artifact=candidate, status=Scorecard.Status.DONE)
                 .order_by("-created_at", "-pk").first())
    if scorecard is None:
        return Condition(SCORECARD, MISSING, _("No finished scorecard of the candidate."), None)
    evidence = ref("scorecard", scorecard, _("scorecard of %(model)s") % {"model": candidate.name})
    if not scorecard.is_complete:
        missing = ", ".join(str(DIMENSION_LABELS[d["key"]]) for d in scorecard.dimensions if d["score"] is None)
        return Condition(SCORECARD, MISSING, _("The scorecard is incomplete; missing: %(missing)s.")
                         % {"missing": missing}, evidence)
    values = {"total": f"{scorecard.total:.2f}", "bar": f"{READY_TO_SHIP:g}"}
    if scorecard.is_ready_to_ship:
        return Condition(SCORECARD, PASS, _("Scorecard total %(total)s, at least %(bar)s.") % values, evidence)
    return Condition(SCORECARD, FAIL, _("Scorecard total %(total)s, below %(bar)s.") % values, evidence)


def deployment_gate(*, deployment: Deployment) -> Gate:
    """The gate for the slot's current candidate; no conditions (and not passed) without a candidate."""
    candidate, production = deployment.candidate, deployment.production
    if candidate is None:
        return Gate([])
    return Gate([
        study_condition(candidate=candidate, production=production, band=deployment.support_band_low),
        general_condition(candidate=candidate, production=production),
        scorecard_condition(candidate=candidate),
    ])
