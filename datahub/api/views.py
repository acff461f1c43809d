"""The datahub REST API. Reads need data.view, writes data.edit, in the row's workspace.

One APIView per resource path; each method is one operation with its nested InputSerializer /
OutputSerializer, and calls a selector or a service: the views hold no rules.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_data_workspace, access_dataset, access_import_job, access_version
from datahub.downloads import export_split_check, version_jsonl_response
from datahub.models import ImportJob, Source
from datahub.selectors import (
    dataset_import_jobs,
    dataset_list,
    dataset_records,
    dataset_versions,
    dataset_with_counts,
    source_in_workspace,
    source_list,
)
from datahub.services.datasets import dataset_create, source_create
from datahub.services.imports import import_job_create
from datahub.services.versions import dataset_version_freeze
from datahub.splits import DEFAULT_RATIOS


WORKSPACE_FILTER = OpenApiParameter("workspace", int, description="only this workspace")


def _workspace_filter(request):
    """The optional ?workspace=<id> filter of list endpoints; an id the user cannot see lists nothing."""
    workspace_id = request.query_params.get("workspace")
    if workspace_id is None:
        return None
    if not workspace_id.isdigit():
        raise ApplicationError("workspace must be a number", where="workspace")
    return int(workspace_id)


class SourceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    quality_tier = serializers.CharField()
    description = serializers.CharField()
    record_count = serializers.IntegerField(default=0)
    created_at = serializers.DateTimeField()


class SourcesApi(APIView):
    """GET lists the sources the user may see; POST registers a new one."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SourceCreateInput"

        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=Source.Kind.choices, default=Source.Kind.OWN)
        quality_tier = serializers.ChoiceField(choices=Source.Tier.choices, default=Source.Tier.B)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    OutputSerializer = SourceOutputSerializer

    @extend_schema(parameters=[WORKSPACE_FILTER], responses=SourceOutputSerializer(many=True))
    def get(self, request):
        sources = source_list(user=request.user)
        workspace_id = _workspace_filter(request)
        if workspace_id is not None:
            sources = sources.filter(workspace_id=workspace_id)
        return paginated(self, sources, self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: SourceOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_data_workspace(request.user, values.pop("workspace"), capability=EDIT)
        source = source_create(workspace=workspace, created_by=request.user, **values)
        return Response(self.OutputSerializer(source).data, status=status.HTTP_201_CREATED)


class DatasetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    workspace_name = serializers.CharField(source="workspace.name")
    name = serializers.CharField()
    description = serializers.CharField()
    record_count = serializers.IntegerField(default=0)
    version_count = serializers.IntegerField(default=0)
    created_at = serializers.DateTimeField()


class DatasetsApi(APIView):
    """GET lists the datasets the user may see; POST creates an empty one."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetCreateInput"

        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")

    OutputSerializer = DatasetOutputSerializer

    @extend_schema(parameters=[WORKSPACE_FILTER], responses=DatasetOutputSerializer(many=True))
    def get(self, request):
        datasets = dataset_list(user=request.user)
        workspace_id = _workspace_filter(request)
        if workspace_id is not None:
            datasets = datasets.filter(workspace_id=workspace_id)
        return paginated(self, datasets, self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: DatasetOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_data_workspace(request.user, values.pop("workspace"), capability=EDIT)
        dataset = dataset_create(workspace=workspace, created_by=request.user, **values)
        return Response(self.OutputSerializer(dataset_with_counts(dataset=dataset)).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    OutputSerializer = DatasetOutputSerializer

    @extend_schema(responses=DatasetOutputSerializer)
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return Response(self.OutputSerializer(dataset_with_counts(dataset=dataset)).data)


class DatasetRecordsApi(APIView):
    """The dataset's records in canonical form, oldest first, paginated (?limit=&offset=)."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RecordOutput"

        id = serializers.IntegerField()
        kind = serializers.CharField()
        messages = serializers.JSONField()
        tools = serializers.JSONField()
        chosen = serializers.JSONField()
        rejected = serializers.JSONField()
        label = serializers.BooleanField(allow_null=True)
        source = serializers.IntegerField(source="source_id", allow_null=True)
        content_hash = serializers.CharField()
        prompt_hash = serializers.CharField()
        tags = serializers.JSONField()
        origin = serializers.CharField()
        import_job = serializers.IntegerField(source="import_job_id", allow_null=True)
        line_number = serializers.IntegerField(allow_null=True)
        raw = serializers.JSONField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return paginated(self, dataset_records(dataset=dataset), self.OutputSerializer)


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    source = serializers.IntegerField(source="source_id", allow_null=True)
    file_name = serializers.CharField()
    format = serializers.CharField()
    detected_format = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    created_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    error = serializers.CharField()
    where = serializers.CharField(source="error_where")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DatasetImportsApi(APIView):
    """GET lists the dataset's import jobs; POST uploads a file (multipart "file") and queues its import."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ImportCreateInput"

        file = serializers.FileField(allow_empty_file=True)
        format = serializers.ChoiceField(choices=ImportJob.Format.choices, default=ImportJob.Format.AUTO)
        source = serializers.IntegerField(required=False, allow_null=True)

    OutputSerializer = ImportJobOutputSerializer

    @extend_schema(responses=ImportJobOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return paginated(self, dataset_import_jobs(dataset=dataset), self.OutputSerializer)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: ImportJobOutputSerializer})
    def post(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = None
        if data.validated_data.get("source") is not None:
            source = source_in_workspace(workspace=dataset.workspace, source_id=data.validated_data["source"])
            if source is None:
                raise ApplicationError(f"no source {data.validated_data['source']} in workspace {dataset.workspace.name!r}", where="source")
        upload = data.validated_data["file"]
        job = import_job_create(dataset=dataset, uploaded_file=upload, file_name=upload.name, format=data.validated_data["format"],
                                source=source, created_by=request.user)
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailApi(APIView):
    """Poll this for status, progress (processed / total) and, on failure, the error and where it happened."""

    OutputSerializer = ImportJobOutputSerializer

    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, import_job_id: int):
        return Response(self.OutputSerializer(access_import_job(request.user, import_job_id)).data)


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
        version = dataset_version_freeze(dataset=dataset, created_by=request.user, seed=data.validated_data["seed"],
                                         ratios=data.validated_data.get("ratios") or DEFAULT_RATIOS, note=data.validated_data["note"])
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    OutputSerializer = VersionOutputSerializer

    @extend_schema(responses=VersionOutputSerializer)
    def get(self, request, version_id: int):
        return Response(self.OutputSerializer(access_version(request.user, version_id)).data)


class VersionExportApi(APIView):
    """The version (or one ?split=train|validation|test) as TRL JSONL, streamed."""

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=["train", "validation", "test"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR})
    def get(self, request, version_id: int):
        version = access_version(request.user, version_id)
        return version_jsonl_response(version, export_split_check(request.query_params.get("split")))
