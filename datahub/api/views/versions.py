"""Dataset versions over the REST API: freezing, exports (JSONL, Hugging Face), leakage, the card and diffs."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_version
from datahub.downloads import export_shape_check, export_split_check, version_hf_response, version_jsonl_response
from datahub.selectors import (
    dataset_versions,
    version_card,
    version_diff,
    version_leakage,
)
from datahub.services.versions import dataset_version_freeze
from datahub.splits import DEFAULT_RATIOS


class VersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    number = serializers.IntegerField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    parent_number = serializers.IntegerField(source="parent.number", allow_null=True, default=None)
    operation = serializers.CharField()
    operation_detail = serializers.JSONField()
    seed = serializers.IntegerField()
    ratios = serializers.JSONField()
    counts = serializers.JSONField()
    manifest_hash = serializers.CharField()
    note = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class DatasetVersionsApi(APIView):
    """GET lists the dataset's versions, newest first; POST freezes every record as the next version."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "VersionFreezeInput"

        seed = serializers.IntegerField(default=0)
        ratios = serializers.DictField(child=serializers.FloatField(min_value=0, max_value=1), required=False)
        note = serializers.CharField(required=False, allow_blank=True, default="")
        stratify = serializers.BooleanField(required=False, default=False)

    OutputSerializer = VersionOutputSerializer

    @extend_schema(responses=VersionOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return paginated(self, dataset_versions(dataset=dataset), self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: VersionOutputSerializer})
    def post(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = dataset_version_freeze(
            dataset=dataset,
            created_by=request.user,
            seed=data.validated_data["seed"],
            ratios=data.validated_data.get("ratios") or DEFAULT_RATIOS,
            note=data.validated_data["note"],
            stratify=data.validated_data["stratify"],
        )
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    OutputSerializer = VersionOutputSerializer

    @extend_schema(responses=VersionOutputSerializer)
    def get(self, request, version_id: int):
        return Response(self.OutputSerializer(access_version(request.user, version_id)).data)


class VersionExportApi(APIView):
    """The version (or one ?split=train|validation|test) as TRL JSONL, streamed."""

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=["train", "validation", "test"]),
                               OpenApiParameter("shape", str, enum=["messages", "prompt_completion"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR})
    def get(self, request, version_id: int):
        version = access_version(request.user, version_id)
        return version_jsonl_response(version, export_split_check(request.query_params.get("split")),
                                      export_shape_check(request.query_params.get("shape")))


class VersionLeakageApi(APIView):
    """Test prompts (or ?split=validation) that also appear in train, exactly or nearly (Jaccard of character 5-grams ≥
    0.8)."""

    class OutputSerializer(serializers.Serializer):
        class LeakSerializer(serializers.Serializer):
            test_record = serializers.IntegerField()
            train_record = serializers.IntegerField()
            kind = serializers.CharField()
            similarity = serializers.FloatField()
            prompt = serializers.CharField()

        split = serializers.CharField()
        checked = serializers.IntegerField()
        exact = serializers.IntegerField()
        near = serializers.IntegerField()
        leaks = LeakSerializer(many=True)

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=["test", "validation"])], responses=OutputSerializer)
    def get(self, request, version_id: int):
        version = access_version(request.user, version_id)
        split = request.query_params.get("split") or "test"
        if split not in ("test", "validation"):
            raise ApplicationError(f"unknown split {split!r}; check test or validation against train", where="split")
        return Response(self.OutputSerializer(version_leakage(version=version, split=split)).data)


class VersionDiffApi(APIView):
    """What changed from version ?against=<id> (another version of the same dataset) to this one."""

    class OutputSerializer(serializers.Serializer):
        old = serializers.IntegerField()
        new = serializers.IntegerField()
        added = serializers.IntegerField()
        removed = serializers.IntegerField()
        changed = serializers.IntegerField()
        moved = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        added_records = serializers.ListField(child=serializers.IntegerField())
        removed_records = serializers.ListField(child=serializers.IntegerField())
        changed_records = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()))
        moved_records = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=[OpenApiParameter("against", int, required=True)], responses=OutputSerializer)
    def get(self, request, version_id: int):
        version = access_version(request.user, version_id)
        other = access_version(request.user, request.query_params.get("against"))
        if other.dataset_id != version.dataset_id:
            raise ApplicationError("both versions must belong to the same dataset", where="against")
        return Response(self.OutputSerializer(version_diff(old=other, new=version)).data)


class VersionExportHfApi(APIView):
    """The version as a zipped Hugging Face `datasets` folder (save_to_disk; one split per non-empty split)."""

    @extend_schema(parameters=[OpenApiParameter("shape", str, enum=["messages", "prompt_completion"])],
                   responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, version_id: int):
        version = access_version(request.user, version_id)
        return version_hf_response(version, export_shape_check(request.query_params.get("shape")))


class VersionCardApi(APIView):
    """The version's dataset card: counts per split, kind mix, records per source and a length histogram in characters;
    with ?base_model=<id> (a base model of the version's workspace) also token lengths through its chat template."""

    class OutputSerializer(serializers.Serializer):
        class SourceSerializer(serializers.Serializer):
            name = serializers.CharField()
            kind = serializers.CharField()
            tier = serializers.CharField()
            records = serializers.IntegerField()

        class TokensSerializer(serializers.Serializer):
            class OverSerializer(serializers.Serializer):
                max_length = serializers.IntegerField()
                records = serializers.IntegerField()

            base_model = serializers.CharField()
            total = serializers.IntegerField()
            measured = serializers.IntegerField()
            sampled = serializers.BooleanField()
            seed = serializers.IntegerField()
            histogram = serializers.DictField(child=serializers.IntegerField())
            p50 = serializers.IntegerField(allow_null=True)
            p95 = serializers.IntegerField(allow_null=True)
            max = serializers.IntegerField(allow_null=True)
            over = OverSerializer(many=True)
            unrendered = serializers.IntegerField()
            warnings = serializers.ListField(child=serializers.CharField())

        total = serializers.IntegerField()
        splits = serializers.DictField(child=serializers.IntegerField())
        mix = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
        sources = SourceSerializer(many=True)
        lengths = serializers.DictField(child=serializers.IntegerField())
        tokens = TokensSerializer(allow_null=True)

    @extend_schema(
        parameters=[OpenApiParameter("base_model", int, description="count tokens with this base model's tokenizer")],
        responses=OutputSerializer,
    )
    def get(self, request, version_id: int):
        # The card composes the data hub's counts with training's token lengths (a base model's tokenizer).
        from training.selectors import version_card_base_model, version_token_lengths

        version = access_version(request.user, version_id)
        base_model_id = request.query_params.get("base_model") or ""
        base_model = (
            version_card_base_model(user=request.user, version=version, base_model_id=base_model_id)
            if base_model_id
            else None
        )
        card = version_card(version=version)
        card["tokens"] = (
            version_token_lengths(version=version, base_model=base_model) if base_model is not None else None
        )
        return Response(self.OutputSerializer(card).data)
