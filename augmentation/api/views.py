"""The REST API of augmentation, mixing and source grading. Reads need data.view, writes data.edit, in the row's
workspace; a model endpoint also needs model_endpoints.use. One APIView per resource path, nested serializers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from augmentation.access import access_augmentation_run, access_grading_run, access_mix_run, access_synonym_table
from augmentation.models import AugmentationCandidate, AugmentationRun, GradingRun
from augmentation.selectors import (
    augmentation_runs_of_dataset,
    candidate_list,
    grading_runs_of_source,
    mix_runs_of_dataset,
    source_quality_report,
    synonym_tables_of_workspace,
)
from augmentation.services.grading import grading_run_create
from augmentation.services.mixing import mix_run_create
from augmentation.services.review import augmentation_run_accept, candidates_accept_passing, candidates_decide
from augmentation.services.runs import augmentation_run_create, augmentation_run_retry
from augmentation.services.synonyms import synonym_table_create
from common.api import JSONParser, paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_data_workspace, access_dataset, access_source, access_version
from datahub.models import Source
from datahub.services.datasets import source_quality_tier_set
from llm.access import access_model_endpoint


def _endpoint(user, endpoint_id):
    return access_model_endpoint(user, endpoint_id) if endpoint_id is not None else None


class RunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class AugmentationRunOutputSerializer(RunOutputSerializer):
    version = serializers.IntegerField(source="version_id")
    methods = serializers.ListField(child=serializers.CharField())
    options = serializers.DictField()
    endpoint = serializers.IntegerField(source="endpoint_id", allow_null=True)
    synonym_table = serializers.IntegerField(source="synonym_table_id", allow_null=True)
    embedding_model = serializers.CharField()
    candidate_count = serializers.IntegerField()
    passing_count = serializers.IntegerField()
    result_version = serializers.IntegerField(source="result_version_id", allow_null=True)


class VersionCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    number = serializers.IntegerField()
    operation = serializers.CharField()
    counts = serializers.DictField()
    operation_detail = serializers.DictField()


class VersionAugmentationsApi(APIView):
    """POST starts an augmentation run over the train split of a version."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AugmentationRunCreateInput"

        methods = serializers.ListField(
            child=serializers.ChoiceField(choices=AugmentationRun.Method.choices), min_length=1
        )
        options = serializers.DictField(required=False, default=dict)
        endpoint = serializers.IntegerField(required=False, allow_null=True, default=None)
        synonym_table = serializers.IntegerField(required=False, allow_null=True, default=None)
        embedding_model = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: AugmentationRunOutputSerializer})
    def post(self, request, version_id: int):
        version = access_version(request.user, version_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        table = (
            access_synonym_table(request.user, values["synonym_table"]) if values["synonym_table"] is not None else None
        )
        run = augmentation_run_create(version=version, methods=values["methods"], options=values["options"],
                                      endpoint=_endpoint(request.user, values["endpoint"]), synonym_table=table,
                                      embedding_model=values["embedding_model"], created_by=request.user)
        return Response(AugmentationRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class DatasetAugmentationsApi(APIView):
    """GET lists the dataset's augmentation runs, newest first."""

    @extend_schema(responses=AugmentationRunOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return paginated(self, augmentation_runs_of_dataset(dataset=dataset), AugmentationRunOutputSerializer)


class AugmentationRunApi(APIView):
    @extend_schema(responses=AugmentationRunOutputSerializer)
    def get(self, request, run_id: int):
        return Response(AugmentationRunOutputSerializer(access_augmentation_run(request.user, run_id)).data)


class AugmentationRunRetryApi(APIView):
    @extend_schema(request=None, responses=AugmentationRunOutputSerializer)
    def post(self, request, run_id: int):
        run = augmentation_run_retry(
            run=access_augmentation_run(request.user, run_id, capability=EDIT), actor=request.user
        )
        return Response(AugmentationRunOutputSerializer(run).data)


class CandidatesApi(APIView):
    """GET lists a run's candidates with the parent's prompt, scores and reason (?decision=, ?passing=true|false)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AugmentationCandidateOutput"

        id = serializers.IntegerField()
        parent = serializers.IntegerField(source="parent_id")
        split = serializers.CharField()
        method = serializers.CharField()
        operation = serializers.CharField()
        original_text = serializers.CharField()
        text = serializers.CharField()
        scores = serializers.DictField()
        is_passing = serializers.BooleanField()
        reason = serializers.CharField()
        decision = serializers.CharField()
        record = serializers.IntegerField(source="record_id", allow_null=True)

    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AugmentationCandidateFilter"

        decision = serializers.ChoiceField(choices=AugmentationCandidate.Decision.choices, required=False)
        passing = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request, run_id: int):
        run = access_augmentation_run(request.user, run_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated(self, candidate_list(run=run, **filters.validated_data), self.OutputSerializer)


class CandidateDecisionsApi(APIView):
    """POST sets one decision on the listed candidates; {"all_passing": true} accepts every passing pending one."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AugmentationDecisionInput"

        candidates = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        decision = serializers.ChoiceField(choices=AugmentationCandidate.Decision.choices, required=False)
        all_passing = serializers.BooleanField(required=False, default=False)

    class OutputSerializer(serializers.Serializer):
        changed = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, run_id: int):
        run = access_augmentation_run(request.user, run_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["all_passing"]:
            changed = candidates_accept_passing(run=run, actor=request.user)
        else:
            if "decision" not in values:
                raise ApplicationError("give a decision, or all_passing", where="decision")
            changed = candidates_decide(
                run=run, candidate_ids=values["candidates"], decision=values["decision"], actor=request.user
            )
        return Response({"changed": changed})


class AugmentationAcceptApi(APIView):
    """POST turns the accepted candidates into records and freezes the new version."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AugmentationAcceptInput"

        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: VersionCreatedSerializer})
    def post(self, request, run_id: int):
        run = access_augmentation_run(request.user, run_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = augmentation_run_accept(run=run, created_by=request.user, note=data.validated_data["note"])
        return Response(VersionCreatedSerializer(version).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- mixing


class MixRunOutputSerializer(RunOutputSerializer):
    dataset = serializers.IntegerField(source="dataset_id")
    ingredients = serializers.ListField(child=serializers.DictField())
    total_size = serializers.IntegerField()
    seed = serializers.IntegerField()
    achieved = serializers.DictField()
    result_version = serializers.IntegerField(source="result_version_id", allow_null=True)


class DatasetMixesApi(APIView):
    """GET lists the dataset's mixes; POST mixes sources and versions into a new version of this dataset."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MixRunCreateInput"

        ingredients = serializers.ListField(child=serializers.DictField(), min_length=1)
        total_size = serializers.IntegerField(min_value=1)
        seed = serializers.IntegerField(required=False, default=0)

    @extend_schema(responses=MixRunOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        return paginated(
            self, mix_runs_of_dataset(dataset=access_dataset(request.user, dataset_id)), MixRunOutputSerializer
        )

    @extend_schema(request=InputSerializer, responses={201: MixRunOutputSerializer})
    def post(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = mix_run_create(dataset=dataset, created_by=request.user, **data.validated_data)
        return Response(MixRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class MixRunApi(APIView):
    @extend_schema(responses=MixRunOutputSerializer)
    def get(self, request, run_id: int):
        return Response(MixRunOutputSerializer(access_mix_run(request.user, run_id)).data)


# ---------------------------------------------------------------- grading


class GradingRunOutputSerializer(RunOutputSerializer):
    source = serializers.IntegerField(source="source_id")
    method = serializers.CharField()
    options = serializers.DictField()
    endpoint = serializers.IntegerField(source="endpoint_id", allow_null=True)
    failed_count = serializers.IntegerField()
    mean_score = serializers.FloatField(allow_null=True)
    suggested_tier = serializers.CharField()


class SourceGradingsApi(APIView):
    """GET lists the source's grading runs; POST grades every record of the source (rules or an LLM judge)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GradingRunCreateInput"

        method = serializers.ChoiceField(choices=GradingRun.Method.choices, default=GradingRun.Method.RULES)
        options = serializers.DictField(required=False, default=dict)
        endpoint = serializers.IntegerField(required=False, allow_null=True, default=None)

    @extend_schema(responses=GradingRunOutputSerializer(many=True))
    def get(self, request, source_id: int):
        return paginated(
            self, grading_runs_of_source(source=access_source(request.user, source_id)), GradingRunOutputSerializer
        )

    @extend_schema(request=InputSerializer, responses={201: GradingRunOutputSerializer})
    def post(self, request, source_id: int):
        source = access_source(request.user, source_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = grading_run_create(source=source, method=values["method"], options=values["options"],
                                 endpoint=_endpoint(request.user, values["endpoint"]), created_by=request.user)
        return Response(GradingRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class GradingRunApi(APIView):
    @extend_schema(responses=GradingRunOutputSerializer)
    def get(self, request, run_id: int):
        return Response(GradingRunOutputSerializer(access_grading_run(request.user, run_id)).data)


class SourceQualityApi(APIView):
    """GET the source's quality report: histogram of scores (10 bins over 0-1), the worst records with reasons."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SourceQualityOutput"

        source = serializers.IntegerField()
        quality_tier = serializers.CharField()
        run = GradingRunOutputSerializer(allow_null=True)
        histogram = serializers.ListField(child=serializers.IntegerField())
        worst = serializers.ListField(child=serializers.DictField())
        failures = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request, source_id: int):
        source = access_source(request.user, source_id)
        report = source_quality_report(source=source)
        body = {
            "source": source.pk,
            "quality_tier": source.quality_tier,
            "run": report["run"],
            "histogram": report["histogram"],
            "worst": [{"record": g.record_id, "score": g.score, "reasons": g.reasons} for g in report["worst"]],
            "failures": [{"record": g.record_id, "error": g.error} for g in report["failures"]],
        }
        return Response(self.OutputSerializer(body).data)


class SourceTierApi(APIView):
    """POST sets the source's quality tier (A-D)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SourceTierInput"

        quality_tier = serializers.ChoiceField(choices=Source.Tier.choices)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SourceTierOutput"

        id = serializers.IntegerField()
        quality_tier = serializers.CharField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, source_id: int):
        source = access_source(request.user, source_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = source_quality_tier_set(source=source, tier=data.validated_data["quality_tier"], actor=request.user)
        return Response(self.OutputSerializer(source).data)


# ---------------------------------------------------------------- synonym tables


class SynonymTableOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    words = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_words(self, table) -> int:
        return len(table.entries)


class SynonymTablesApi(APIView):
    """GET lists a workspace's synonym tables (?workspace=); POST uploads one (multipart `file`, TSV or JSON)."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SynonymTableCreateInput"

        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        file = serializers.FileField()

    @extend_schema(responses=SynonymTableOutputSerializer(many=True))
    def get(self, request):
        workspace = access_data_workspace(request.user, request.query_params.get("workspace"))
        return paginated(self, synonym_tables_of_workspace(workspace_id=workspace.pk), SynonymTableOutputSerializer)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: SynonymTableOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace = access_data_workspace(request.user, values["workspace"], capability=EDIT)
        upload = values["file"]
        table = synonym_table_create(
            workspace=workspace,
            name=values["name"],
            content=upload.read(),
            file_name=upload.name,
            created_by=request.user,
        )
        return Response(SynonymTableOutputSerializer(table).data, status=status.HTTP_201_CREATED)
