"""Rater quality control over the REST API (study.manage): comparisons with arms revealed for marking gold, gold
uploads, and leaving a rater's votes out of the results. Raters never reach these: gold and repeats are served
through /studies/{id}/next/ like any other comparison."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from evaluation.access import access_study
from evaluation.api.serializers import RaterReliabilitySerializer
from evaluation.reliability import study_rater_reliability
from evaluation.selectors import comparison_for_manager, rater_of_study, study_comparisons_for_manager
from evaluation.services import comparison_gold_set, study_gold_upload, study_rater_exclude, study_rater_include


class StudyComparisonListApi(APIView):
    """The study's comparisons with the arms revealed, for marking gold (study.manage): regular and gold ones, not the
    side-swapped repeats. `?gold=1` lists only gold comparisons."""

    @extend_schema_serializer(component_name="ManagedComparison")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        prompt = serializers.JSONField(source="prompt.messages")
        left_arm = serializers.CharField(source="left_answer.arm.name", default=None, allow_null=True)
        left = serializers.CharField(source="left_answer.text")
        right_arm = serializers.CharField(source="right_answer.arm.name", default=None, allow_null=True)
        right = serializers.CharField(source="right_answer.text")
        is_identical = serializers.BooleanField()
        gold = serializers.CharField(
            source="gold_side", allow_null=True, help_text="left or right: the gold answer; null when not gold"
        )
        has_repeat = serializers.BooleanField()
        vote_count = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        return paginated(
            self,
            study_comparisons_for_manager(study=study, gold_only=request.query_params.get("gold") == "1"),
            self.OutputSerializer,
        )


class ComparisonGoldApi(APIView):
    """Mark a comparison gold with its better answer, "left" or "right" as stored (study.manage); null unmarks it."""

    @extend_schema_serializer(component_name="ComparisonGoldInput")
    class InputSerializer(serializers.Serializer):
        better = serializers.ChoiceField(choices=["left", "right"], allow_null=True)

    @extend_schema(request=InputSerializer, responses=StudyComparisonListApi.OutputSerializer)
    def post(self, request, study_id: int, comparison_id: int):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        comparison = comparison_for_manager(study=study, comparison_id=comparison_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comparison_gold_set(comparison=comparison, better=data.validated_data["better"], actor=request.user)
        return Response(
            StudyComparisonListApi.OutputSerializer(
                comparison_for_manager(study=study, comparison_id=comparison_id)
            ).data
        )


class StudyGoldUploadApi(APIView):
    """Add gold comparisons to an open study (study.manage): prompts each with a better and a worse answer."""

    @extend_schema_serializer(component_name="GoldUploadInput")
    class InputSerializer(serializers.Serializer):
        items = serializers.ListField(
            child=serializers.JSONField(), help_text='each {"messages": [...], "chosen": "...", "rejected": "..."}'
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: inline_serializer("GoldUploaded", {"added": serializers.IntegerField()})},
    )
    def post(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        added = study_gold_upload(study=study, items=data.validated_data["items"], actor=request.user)
        return Response({"added": added}, status=status.HTTP_201_CREATED)


class RaterExcludeApi(APIView):
    """Leave a rater's votes out of the results (study.manage), or count them again with `include`."""

    @extend_schema_serializer(component_name="RaterExclusionInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(default="", allow_blank=True, max_length=2000)

    @extend_schema(request=InputSerializer, responses=RaterReliabilitySerializer(many=True))
    def post(self, request, study_id: int, rater_id: int, action: str):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        rater = rater_of_study(study=study, rater_id=rater_id)
        if rater is None or action not in ("exclude", "include"):
            raise Http404
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if action == "exclude":
            study_rater_exclude(study=study, rater=rater, actor=request.user, reason=data.validated_data["reason"])
        else:
            study_rater_include(study=study, rater=rater, actor=request.user)
        return Response(
            RaterReliabilitySerializer([r.as_dict() for r in study_rater_reliability(study=study)], many=True).data
        )
