"""The dedupe API: start a dry run, read its histogram / pairs / clusters, override decisions, apply.

Reads need data.view, changes data.edit, in the dataset's workspace. One APIView per operation; each calls a
selector or a service.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset
from datahub.selectors import version_by_number
from dedupe.access import access_dedupe_decision, access_dedupe_run
from dedupe.models import DedupeDecision
from dedupe.selectors import dedupe_run_clusters, dedupe_run_decision_counts, dedupe_run_pairs, dedupe_runs_for_dataset
from dedupe.services import dedupe_decision_override, dedupe_run_apply, dedupe_run_create


class DedupeRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    version = serializers.IntegerField(source="version.number", default=None)
    status = serializers.CharField()
    phase = serializers.CharField()
    percent = serializers.IntegerField()
    use_exact = serializers.BooleanField()
    use_near = serializers.BooleanField()
    use_semantic = serializers.BooleanField()
    near_threshold = serializers.FloatField()
    num_perm = serializers.IntegerField()
    cosine_threshold = serializers.FloatField()
    embedding_model = serializers.CharField()
    record_count = serializers.IntegerField()
    drop_count = serializers.IntegerField()
    cluster_count = serializers.IntegerField()
    embedded_count = serializers.IntegerField()
    semantic_skipped = serializers.IntegerField()
    histogram = serializers.JSONField()
    leakage = serializers.JSONField()
    timings = serializers.JSONField()
    error = serializers.CharField()
    applied_version = serializers.IntegerField(source="applied_version.number", default=None)
    created_at = serializers.DateTimeField()


class DedupeRunsApi(APIView):
    """GET lists a dataset's dedupe runs, newest first; POST queues a dry run."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DedupeRunCreateInput"

        version = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                           help_text="version number; empty dedupes the current records")
        use_exact = serializers.BooleanField(default=True)
        use_near = serializers.BooleanField(default=True)
        use_semantic = serializers.BooleanField(default=True)
        near_threshold = serializers.FloatField(default=0.8)
        cosine_threshold = serializers.FloatField(default=0.95)
        embedding_model = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
        seed = serializers.IntegerField(default=0)

    OutputSerializer = DedupeRunOutputSerializer

    @extend_schema(responses=DedupeRunOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return paginated(self, dedupe_runs_for_dataset(dataset=dataset), self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: DedupeRunOutputSerializer})
    def post(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        number = values.pop("version")
        version = None
        if number is not None:
            version = version_by_number(dataset=dataset, number=number)
            if version is None:
                raise ApplicationError(
                    f"dataset {dataset.name!r} has no version {number}", where="version", code="not_found"
                )
        run = dedupe_run_create(dataset=dataset, version=version, created_by=request.user, **values)
        return Response(self.OutputSerializer(run).data, status=status.HTTP_201_CREATED)


class DedupeRunDetailApi(APIView):
    """A run's settings, progress, histogram, leakage summary and decision counts."""

    class OutputSerializer(DedupeRunOutputSerializer):
        class Meta:
            ref_name = "DedupeRunDetail"

        decisions = serializers.DictField(child=serializers.IntegerField(), source="decision_counts")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, run_id: int):
        run = access_dedupe_run(request.user, run_id)
        run.decision_counts = dedupe_run_decision_counts(run=run)
        return Response(self.OutputSerializer(run).data)


class RecordBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    messages = serializers.JSONField()
    chosen = serializers.JSONField()
    rejected = serializers.JSONField()
    source = serializers.CharField(source="source.name", default=None)
    quality_tier = serializers.CharField(source="source.quality_tier", default=None)
    quality_score = serializers.FloatField()


class DedupeRunPairsApi(APIView):
    """Scored pairs, closest first: duplicates found and the closest pairs below the thresholds.
    ?duplicates=1 keeps the duplicates; ?leakage=1 keeps duplicates whose records sit in different splits."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        stage = serializers.CharField()
        similarity = serializers.FloatField()
        prompt_similarity = serializers.FloatField(allow_null=True)
        is_duplicate = serializers.BooleanField()
        split_a = serializers.CharField()
        split_b = serializers.CharField()
        crosses_splits = serializers.BooleanField()
        record_a = RecordBriefSerializer()
        record_b = RecordBriefSerializer()

    @extend_schema(parameters=[OpenApiParameter("duplicates", bool), OpenApiParameter("leakage", bool)],
                   responses=OutputSerializer(many=True))
    def get(self, request, run_id: int):
        run = access_dedupe_run(request.user, run_id)
        flags = request.query_params
        pairs = dedupe_run_pairs(run=run, duplicates_only=flags.get("duplicates") in ("1", "true"),
                                 leakage_only=flags.get("leakage") in ("1", "true"))
        return paginated(self, pairs, self.OutputSerializer)


class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    record = serializers.IntegerField(source="record_id")
    action = serializers.CharField()
    proposed_action = serializers.CharField()
    is_overridden = serializers.BooleanField()
    kept_record = serializers.IntegerField(source="kept_record_id", allow_null=True)
    similarity = serializers.FloatField(allow_null=True)
    stage = serializers.CharField()
    rank = serializers.IntegerField()


class DedupeRunClustersApi(APIView):
    """Clusters, largest first, each with its records' decisions (best-ranked first)."""

    class OutputSerializer(serializers.Serializer):
        number = serializers.IntegerField()
        size = serializers.IntegerField()
        kept = serializers.IntegerField(source="kept_id")
        max_similarity = serializers.FloatField()
        decisions = DecisionOutputSerializer(many=True, source="decisions.all")

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, run_id: int):
        run = access_dedupe_run(request.user, run_id)
        return paginated(self, dedupe_run_clusters(run=run), self.OutputSerializer)


class DedupeDecisionOverrideApi(APIView):
    """Keep or drop one record of a dry run before it is applied."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DedupeDecisionOverrideInput"

        action = serializers.ChoiceField(choices=DedupeDecision.Action.choices)

    OutputSerializer = DecisionOutputSerializer

    @extend_schema(request=InputSerializer, responses=DecisionOutputSerializer)
    def post(self, request, decision_id: int):
        decision = access_dedupe_decision(request.user, decision_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = dedupe_decision_override(decision=decision, action=data.validated_data["action"], actor=request.user)
        return Response(self.OutputSerializer(decision).data)


class DedupeRunApplyApi(APIView):
    """Freeze the kept records as the dataset's next version (operation dedupe)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DedupeRunApplyInput"

        note = serializers.CharField(required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        number = serializers.IntegerField()
        parent = serializers.IntegerField(source="parent.number", default=None)
        operation = serializers.CharField()
        counts = serializers.JSONField()
        operation_detail = serializers.JSONField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, run_id: int):
        run = access_dedupe_run(request.user, run_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = dedupe_run_apply(run=run, actor=request.user, note=data.validated_data["note"])
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)
