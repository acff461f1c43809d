"""The rows of a blind 1–5 rating study (Study.kind "rating"): one answer at a time, scored on the study's rubric.

Kept beside evaluation/models.py (which imports them, so they are the evaluation app's models) to keep both short.
The blinding mirrors the pairwise study's: a RatingItem is addressed by a random token, its place in the serving order
is a shuffle drawn with `secrets`, and nothing a rater receives names its arm, model or answer.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.models import TimeStampedModel


def _new_token() -> str:
    from evaluation.models import new_public_token

    return new_public_token()


class RatingItem(models.Model):
    """One answer of one arm (or an uploaded gold answer) to be rated. Gold: the scores a careful rater gives, per
    criterion, set by the product manager; served to every rater at the study's gold_rate, out of the results. A repeat
    (repeat_of set) is the same answer under its own token, served to a rater some ratings after the original."""

    study = models.ForeignKey("evaluation.Study", on_delete=models.CASCADE, related_name="rating_items")
    prompt = models.ForeignKey("evaluation.StudyPrompt", on_delete=models.CASCADE, related_name="rating_items")
    answer = models.ForeignKey("evaluation.Answer", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=32, unique=True, default=_new_token)
    order = models.PositiveIntegerField(help_text="a shuffle drawn with secrets, so this order hides creation order")
    rating_count = models.PositiveSmallIntegerField(default=0)
    gold_scores = models.JSONField(null=True, blank=True, help_text="criterion → the score a careful rater gives")
    repeat_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE, related_name="repeat")

    class Meta:
        indexes = [models.Index(fields=["study", "rating_count", "order"])]
        constraints = [models.UniqueConstraint(fields=["study", "order"], name="rating_item_order_unique_in_study")]


class RatingShowing(models.Model):
    """A rating item as served to one rater: at most one pending (served, not yet rated) per rater and study, so a
    reload serves the same item again."""

    study = models.ForeignKey("evaluation.Study", on_delete=models.CASCADE, related_name="rating_showings")
    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="showings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_pending = models.BooleanField(default=False)
    served_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="rating_showing_once_per_rater"),
            models.UniqueConstraint(fields=["study", "rater"], condition=models.Q(is_pending=True),
                                    name="rating_showing_one_pending_per_rater_in_study"),
        ]


class Rating(TimeStampedModel):
    """A rater's scores of one item: criterion name → 1..5, one per criterion of the study's rubric."""

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    scores = models.JSONField()
    reason = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    simulated_by = models.CharField(max_length=64, blank=True,
                                    help_text="the rule that rated in place of a person; empty for a person")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "rater"], name="rating_one_per_rater")]
