"""Blind 1–5 rating studies over the REST API.

Raters (study.vote) reach items only through /studies/{id}/next-rating/ and /rating-items/{token}/rate/, whose answers
carry the item's random token, the prompt, the answer text and the rubric: no arm, model or answer id. Results and gold
are for study.view_results / study.manage holders.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.errors import ApplicationError
from evaluation.access import access_rating_item_for_vote, access_study, access_study_for_vote
from evaluation.rating_results import rating_item_for_manager, study_rating_summary
from evaluation.services import rating_item_gold_set, rating_serve, rating_submit, study_rating_gold_upload


def _rating_study(study):
    if study.kind != "rating":
        raise ApplicationError("this is a pairwise study; it has no ratings", where="study", code="not_rating")
    return study


class MeanIntervalSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


@extend_schema_serializer(component_name="ArmScores")
class ArmRatingSerializer(serializers.Serializer):
    arm_id = serializers.IntegerField()
    name = serializers.CharField()
    is_baseline = serializers.BooleanField()
    criteria = serializers.DictField(child=MeanIntervalSerializer())


@extend_schema_serializer(component_name="RatingComparison")
class RatingComparisonSerializer(serializers.Serializer):
    candidate_id = serializers.IntegerField()
    candidate = serializers.CharField()
    criterion = serializers.CharField()
    n = serializers.IntegerField(source="tests.n")
    mean_difference = serializers.FloatField(source="tests.mean_difference", allow_null=True)
    wilcoxon_p = serializers.FloatField(source="tests.wilcoxon_p", allow_null=True)
    t_test_p = serializers.FloatField(source="tests.t_test_p", allow_null=True)
    wilcoxon_p_adjusted = serializers.FloatField(allow_null=True, help_text="Holm-adjusted over the candidates")
    t_test_p_adjusted = serializers.FloatField(allow_null=True, help_text="Holm-adjusted over the candidates")
    significant = serializers.BooleanField(allow_null=True, help_text="adjusted Wilcoxon p at most the study's level")
    direction = serializers.CharField()


@extend_schema_serializer(component_name="RatingRaterQuality")
class RaterQualitySerializer(serializers.Serializer):
    rater_id = serializers.IntegerField()
    username = serializers.CharField()
    ratings = serializers.IntegerField()
    gold_ratings = serializers.IntegerField()
    gold_agreement = serializers.FloatField(allow_null=True)
    gold_interval = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    repeats = serializers.IntegerField()
    repeat_agreement = serializers.FloatField(allow_null=True)
    flagged = serializers.BooleanField()
    excluded = serializers.BooleanField()


@extend_schema_serializer(component_name="LabelRating")
class LabelRatingSerializer(serializers.Serializer):
    label = serializers.CharField()
    prompts = serializers.IntegerField()
    arms = ArmRatingSerializer(many=True)
    comparisons = RatingComparisonSerializer(many=True)
    helped = serializers.DictField(child=serializers.CharField(), help_text="candidate arm id → helped, hurt, mixed or "
                                                                            "no_difference")


@extend_schema_serializer(component_name="RatingSummary")
class RatingSummarySerializer(serializers.Serializer):
    study_id = serializers.IntegerField()
    criteria = serializers.ListField(child=serializers.CharField())
    significance_level = serializers.FloatField()
    confidence = serializers.FloatField()
    counted_ratings = serializers.IntegerField()
    raters = serializers.IntegerField()
    arms = ArmRatingSerializer(many=True)
    comparisons = RatingComparisonSerializer(many=True)
    agreement = serializers.DictField(child=serializers.FloatField(allow_null=True))
    rater_quality = RaterQualitySerializer(many=True)
    labels = LabelRatingSerializer(many=True)


class StudyRatingResultsApi(APIView):
    """A rating study's results (study.view_results): per-arm means with intervals per criterion, paired Wilcoxon and
    t-tests of each candidate against the baseline (Holm-adjusted), Krippendorff's ordinal alpha, rater quality and
    the breakdown by the prompts' labels."""

    @extend_schema(responses=RatingSummarySerializer)
    def get(self, request, study_id: int):
        study = _rating_study(access_study(request.user, study_id, capabilities=("study.view_results",)))
        return Response(RatingSummarySerializer(study_rating_summary(study=study)).data)


class StudyNextRatingApi(APIView):
    """The next answer for this rater to score (study.vote): token, question, rubric, prompt and answer text; 204 when
    none is left. Asking again returns the same answer until the rater rates it."""

    @extend_schema_serializer(component_name="BlindRatingItem")
    class OutputSerializer(serializers.Serializer):
        class MessageSerializer(serializers.Serializer):
            role = serializers.CharField()
            content = serializers.CharField(allow_blank=True)

        token = serializers.CharField(source="item.token")
        question = serializers.CharField(source="study.question")
        rubric = serializers.ListField(child=serializers.DictField(), source="study.rubric")
        prompt = MessageSerializer(source="item.prompt.messages", many=True)
        answer = serializers.CharField(source="item.answer.text")

    @extend_schema(responses={200: OutputSerializer, 204: None})
    def get(self, request, study_id: int):
        study = access_study_for_vote(request.user, study_id)
        showing = rating_serve(study=study, rater=request.user)
        if showing is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        showing.study = study
        return Response(self.OutputSerializer(showing).data)


class RatingSubmitApi(APIView):
    """Rate an answer served to you, by its token (study.vote): a score from 1 to 5 for every criterion of the rubric.
    One rating per rater and answer."""

    @extend_schema_serializer(component_name="RatingInput")
    class InputSerializer(serializers.Serializer):
        scores = serializers.DictField(child=serializers.IntegerField())
        reason = serializers.CharField(default="", allow_blank=True)
        time_spent_ms = serializers.IntegerField(default=0)

    @extend_schema_serializer(component_name="RatingOutput")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        scores = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, token: str):
        item = access_rating_item_for_vote(request.user, token)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = rating_submit(item=item, rater=request.user, **data.validated_data)
        return Response(self.OutputSerializer({"token": item.token, "scores": rating.scores}).data,
                        status=status.HTTP_201_CREATED)


class RatingItemGoldApi(APIView):
    """Mark a rating item gold with the scores a careful rater gives (study.manage), or unmark it (scores null)."""

    @extend_schema_serializer(component_name="RatingGoldInput")
    class InputSerializer(serializers.Serializer):
        scores = serializers.DictField(child=serializers.IntegerField(), allow_null=True)

    @extend_schema(request=InputSerializer, responses={200: None})
    def post(self, request, study_id: int, item_id: int):
        study = _rating_study(access_study(request.user, study_id, capabilities=("study.manage",)))
        item = rating_item_for_manager(study=study, item_id=item_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = rating_item_gold_set(item=item, scores=data.validated_data["scores"], actor=request.user)
        return Response({"id": item.pk, "gold_scores": item.gold_scores})


class StudyRatingGoldUploadApi(APIView):
    """Add gold answers to an open rating study (study.manage): [{"messages", "answer", "scores"}]."""

    @extend_schema(request=serializers.ListSerializer(child=serializers.JSONField()), responses={201: None})
    def post(self, request, study_id: int):
        study = _rating_study(access_study(request.user, study_id, capabilities=("study.manage",)))
        added = study_rating_gold_upload(study=study, items=request.data, actor=request.user)
        return Response({"added": added}, status=status.HTTP_201_CREATED)
