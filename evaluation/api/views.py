"""Studies, blinded comparisons and votes over the REST API.

Raters (study.vote) reach comparisons only through /studies/{id}/next/ and /comparisons/{token}/vote/, whose answers
name no arm, model or answer id. Arms and results are for study.manage / study.view_results holders.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_workspace, user_can
from common.api import paginated
from common.errors import ApplicationError
from evaluation.access import access_comparison_for_vote, access_study, access_study_for_vote
from evaluation.api.serializers import (
    ArmSerializer,
    StudyCountsSerializer,
    StudyReportSerializer,
    StudySummarySerializer,
)
from evaluation.selectors import (
    artifact_for_study,
    base_model_for_study,
    dataset_version_for_study,
    endpoint_for_study,
    study_arm_rows,
    study_counts,
    study_list_for_user,
    study_report,
)
from evaluation.services import (
    judge_create,
    showing_serve,
    study_abandon,
    study_close,
    study_create,
    study_retry,
    study_votes_export,
    vote_submit,
)


class StudyListApi(APIView):
    """Studies the user manages or reads results of, plus open studies the user may vote in (no arms here)."""

    @extend_schema(responses=StudySummarySerializer(many=True))
    def get(self, request):
        """Studies the user manages or reads results of, plus open studies the user may vote in (no arms here)."""
        return paginated(self, study_list_for_user(user=request.user), StudySummarySerializer)


class StudyCreateApi(APIView):
    """Create a study (study.manage in the workspace); answer generation starts in the background."""

    @extend_schema_serializer(component_name="StudyCreateInput")
    class InputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="ArmInput")
        class ArmInputSerializer(serializers.Serializer):
            name = serializers.CharField(max_length=200)
            base_model = serializers.IntegerField(required=False, allow_null=True, default=None)
            artifact = serializers.IntegerField(required=False, allow_null=True, default=None)
            endpoint = serializers.IntegerField(required=False, allow_null=True, default=None)
            is_baseline = serializers.BooleanField(default=False)

        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        dataset_version = serializers.IntegerField(required=False, allow_null=True, default=None)
        prompts = serializers.ListField(
            child=serializers.JSONField(),
            required=False,
            allow_null=True,
            default=None,
            help_text='instead of a dataset version: conversations, each {"messages": [...]}',
        )
        arms = ArmInputSerializer(many=True)
        split = serializers.CharField(default="test")
        max_prompts = serializers.IntegerField(default=50)
        max_new_tokens = serializers.IntegerField(default=64)
        votes_per_comparison = serializers.IntegerField(default=1)
        seed = serializers.IntegerField(
            default=0,
            help_text="seeds the prompt sample, generation and the results' bootstrap; "
            "never the sides raters see or the order they are served in",
        )
        question = serializers.CharField(default="", allow_blank=True)
        labels = serializers.ListField(child=serializers.CharField(max_length=64), default=list)
        gold_rate = serializers.FloatField(
            default=0.0, help_text="share of a rater's queue drawn from gold comparisons, in [0, 1)"
        )
        repeat_rate = serializers.FloatField(
            default=0.0, help_text="share of comparisons shown again, sides swapped, in [0, 1]"
        )
        gold_threshold = serializers.FloatField(default=0.7, help_text="gold accuracy below which a rater is flagged")
        kind = serializers.ChoiceField(choices=["pairwise", "rating"], default="pairwise")
        rubric = serializers.ListField(child=serializers.JSONField(), default=list,
                                       help_text='a rating study\'s criteria: names or {"name", "description"}')
        significance_level = serializers.FloatField(default=0.05, help_text="the level of every comparison's test")

    @extend_schema(request=InputSerializer, responses={201: StudySummarySerializer})
    def post(self, request):
        """Create a study (study.manage in the workspace); answer generation starts in the background."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_workspace(request.user, values.pop("workspace"), capability="study.manage")
        version_id = values.pop("dataset_version")
        dataset_version = None
        if version_id is not None:
            dataset_version = dataset_version_for_study(workspace=workspace, version_id=version_id)
            if dataset_version is None:
                raise ApplicationError(f"no dataset version {version_id} in this workspace", where="dataset_version")
        if values["prompts"] is not None:
            values["upload_name"] = "api"
        values["arms"] = [_arm_resolve(workspace, i, arm) for i, arm in enumerate(values["arms"])]
        study = study_create(workspace=workspace, dataset_version=dataset_version, created_by=request.user, **values)
        return Response(StudySummarySerializer(study).data, status=status.HTTP_201_CREATED)


def _arm_resolve(workspace, index: int, arm: dict) -> dict:
    """An arm's model ids made objects of `workspace`; a model elsewhere reads as missing, so ids leak nothing."""
    resolved = {
        "name": arm["name"],
        "is_baseline": arm["is_baseline"],
        "base_model": None,
        "artifact": None,
        "endpoint": None,
    }
    if arm["base_model"] is not None:
        resolved["base_model"] = base_model_for_study(workspace=workspace, base_model_id=arm["base_model"])
        if resolved["base_model"] is None:
            raise ApplicationError(
                f"no base model {arm['base_model']} in this workspace", where=f"arms[{index}].base_model"
            )
    if arm["artifact"] is not None:
        resolved["artifact"] = artifact_for_study(workspace=workspace, artifact_id=arm["artifact"])
        if resolved["artifact"] is None:
            raise ApplicationError(
                f"no model artifact {arm['artifact']} in this workspace", where=f"arms[{index}].artifact"
            )
    if arm["endpoint"] is not None:
        resolved["endpoint"] = endpoint_for_study(workspace=workspace, endpoint_id=arm["endpoint"])
        if resolved["endpoint"] is None:
            raise ApplicationError(
                f"no model endpoint {arm['endpoint']} in this workspace", where=f"arms[{index}].endpoint"
            )
    return resolved


class StudyListCreateApi(StudyListApi, StudyCreateApi):
    """/studies/ answers both operations: GET lists (StudyListApi), POST creates (StudyCreateApi)."""


class StudyDetailApi(APIView):
    """A study's status, generation progress, counts and arms (study.manage or study.view_results)."""

    @extend_schema_serializer(component_name="StudyDetail")
    class OutputSerializer(StudySummarySerializer):
        error = serializers.CharField()
        dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
        upload_name = serializers.CharField()
        split = serializers.CharField()
        max_prompts = serializers.IntegerField()
        max_new_tokens = serializers.IntegerField()
        votes_per_comparison = serializers.IntegerField()
        seed = serializers.IntegerField()
        labels = serializers.ListField(child=serializers.CharField())
        gold_rate = serializers.FloatField()
        repeat_rate = serializers.FloatField()
        gold_threshold = serializers.FloatField()
        kind = serializers.CharField()
        rubric = serializers.ListField(child=serializers.DictField())
        significance_level = serializers.FloatField()
        arms = ArmSerializer(source="arm_rows", many=True)
        counts = StudyCountsSerializer(source="study_counts")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, study_id: int):
        study = access_study(request.user, study_id)
        study.arm_rows = study_arm_rows(study=study)
        study.study_counts = study_counts(study=study)
        return Response(self.OutputSerializer(study).data)


class StudyResultsApi(APIView):
    """Support rate with its Wilson and prompt-level bootstrap intervals, the raw rates, the sign test, the verdict,
    rater agreement, the length-controlled rate and the per-label breakdown, per candidate arm (study.view_results)."""

    OutputSerializer = StudyReportSerializer

    @extend_schema(responses=OutputSerializer)
    def get(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.view_results",))
        return Response(self.OutputSerializer(study_report(study=study)).data)


class StudyNextComparisonApi(APIView):
    """The next blinded comparison for this rater (study.vote): token, prompt, left and right texts as this rater sees
    them; 204 when none is left. Asking again returns the same comparison, same sides, until the rater votes on it."""

    @extend_schema_serializer(component_name="BlindComparison")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="PromptMessage")
        class MessageSerializer(serializers.Serializer):
            role = serializers.CharField()
            content = serializers.CharField(allow_blank=True)

        token = serializers.CharField(source="comparison.token")
        question = serializers.CharField(source="study.question")
        labels = serializers.ListField(child=serializers.CharField(), source="study.labels")
        prompt = MessageSerializer(source="comparison.prompt.messages", many=True)
        left = serializers.CharField(source="left_answer.text")
        right = serializers.CharField(source="right_answer.text")

    @extend_schema(responses={200: OutputSerializer, 204: None})
    def get(self, request, study_id: int):
        study = access_study_for_vote(request.user, study_id)
        showing = showing_serve(study=study, rater=request.user)
        if showing is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        showing.study = study
        return Response(self.OutputSerializer(showing).data)


class VoteSubmitApi(APIView):
    """Vote on a comparison served to you, by its token (study.vote): left, right (as you saw them), tie or both_bad.
    One vote per rater per comparison."""

    @extend_schema_serializer(component_name="VoteInput")
    class InputSerializer(serializers.Serializer):
        choice = serializers.CharField()
        reason = serializers.CharField(default="", allow_blank=True)
        label = serializers.CharField(default="", allow_blank=True, max_length=64)
        time_spent_ms = serializers.IntegerField(default=0)

    @extend_schema_serializer(component_name="VoteOutput")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        choice = serializers.CharField(help_text="as the rater saw the sides")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, token: str):
        comparison = access_comparison_for_vote(request.user, token)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        vote_submit(comparison=comparison, rater=request.user, **data.validated_data)
        # The choice as pressed: the stored one (the comparison's orientation) would tell the rater that orientation.
        return Response(
            self.OutputSerializer({"token": comparison.token, "choice": data.validated_data["choice"]}).data,
            status=status.HTTP_201_CREATED,
        )


class _StudyTransitionApi(APIView):
    """POST moves a study (study.manage) through one service; the answer is the study's summary."""

    service = None  # a study service taking study= and actor=

    @extend_schema(request=None, responses=StudySummarySerializer)
    def post(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        study = type(self).service(study=study, actor=request.user)
        return Response(StudySummarySerializer(study).data)


class StudyCloseApi(_StudyTransitionApi):
    """Close an open study (study.manage): no more votes; results stay readable."""

    service = staticmethod(study_close)


class StudyRetryApi(_StudyTransitionApi):
    """Generate again (study.manage): a failed study, or a generating one that stopped making progress."""

    service = staticmethod(study_retry)


class StudyAbandonApi(_StudyTransitionApi):
    """Mark a generating study that stopped making progress as failed (study.manage)."""

    service = staticmethod(study_abandon)


class StudyVotesExportApi(APIView):
    """The study's votes as DPO pairs (prompt / chosen / rejected) in a new dataset, frozen as version 1
    (study.view_results and data.edit in the study's workspace)."""

    @extend_schema_serializer(component_name="StudyVotesExportInput")
    class InputSerializer(serializers.Serializer):
        dataset_name = serializers.CharField(max_length=200)

    @extend_schema_serializer(component_name="StudyVotesExport")
    class OutputSerializer(serializers.Serializer):
        dataset = serializers.IntegerField(source="dataset_id")
        dataset_name = serializers.CharField(source="dataset.name")
        version = serializers.IntegerField(source="pk")
        number = serializers.IntegerField()
        counts = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.view_results",))
        if not user_can(request.user, "data.edit", study.workspace):
            raise Http404
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = study_votes_export(
            study=study, dataset_name=data.validated_data["dataset_name"], created_by=request.user
        )
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)


class JudgeCreateApi(APIView):
    """Queue an LLM judge of a study (study.manage and model_endpoints.use): every shown comparison, both orders."""

    @extend_schema_serializer(component_name="JudgeCreateInput")
    class InputSerializer(serializers.Serializer):
        endpoint = serializers.IntegerField()
        prompt = serializers.CharField(default="", allow_blank=True)

    @extend_schema_serializer(component_name="JudgeCreated")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        endpoint = serializers.IntegerField(source="endpoint_id")
        status = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, study_id: int):
        study = access_study(request.user, study_id, capabilities=("study.manage",))
        if not user_can(request.user, "model_endpoints.use", study.workspace):
            raise Http404
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = endpoint_for_study(workspace=study.workspace, endpoint_id=data.validated_data["endpoint"])
        if endpoint is None:
            raise ApplicationError(
                f"no model endpoint {data.validated_data['endpoint']} in this workspace", where="endpoint"
            )
        judge = judge_create(
            study=study, endpoint=endpoint, prompt=data.validated_data["prompt"], created_by=request.user
        )
        return Response(self.OutputSerializer(judge).data, status=status.HTTP_201_CREATED)
