"""Sources, datasets and their records over the REST API (data.view to read, data.edit to change)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import JSONParser, paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_data_workspace, access_dataset
from datahub.models import ImportJob, Record, Source
from datahub.selectors import dataset_list, dataset_with_counts, record_search, source_list, version_by_number
from datahub.services.datasets import dataset_create, dataset_delete, source_create
from datahub.services.imports import dataset_import_new
from datahub.services.records import records_tag

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
    """GET lists the datasets the user may see; POST creates one, empty, or with its first file (multipart "file",
    optional "format"): a file refused at once creates nothing, and an import that fails later removes the dataset
    again (poll the import job; once it has failed, the dataset is gone)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DatasetCreateInput"

        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        file = serializers.FileField(required=False, allow_empty_file=True)
        format = serializers.ChoiceField(choices=ImportJob.Format.choices, default=ImportJob.Format.AUTO)

    OutputSerializer = DatasetOutputSerializer

    class CreatedSerializer(DatasetOutputSerializer):
        class Meta:
            ref_name = "DatasetCreatedOutput"

        import_job = serializers.IntegerField(
            allow_null=True, help_text="the first file's import job, if a file was sent"
        )

    @extend_schema(parameters=[WORKSPACE_FILTER], responses=DatasetOutputSerializer(many=True))
    def get(self, request):
        datasets = dataset_list(user=request.user)
        workspace_id = _workspace_filter(request)
        if workspace_id is not None:
            datasets = datasets.filter(workspace_id=workspace_id)
        return paginated(self, datasets, self.OutputSerializer)

    @extend_schema(request={"application/json": InputSerializer, "multipart/form-data": InputSerializer},
                   responses={201: CreatedSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_data_workspace(request.user, values.pop("workspace"), capability=EDIT)
        upload, file_format = values.pop("file", None), values.pop("format")
        if upload is None:
            dataset, job = dataset_create(workspace=workspace, created_by=request.user, **values), None
        else:
            job = dataset_import_new(
                workspace=workspace,
                created_by=request.user,
                uploaded_file=upload,
                file_name=upload.name,
                format=file_format,
                **values,
            )
            dataset = job.dataset
        body = dataset_with_counts(dataset=dataset)
        body.import_job = job.pk if job else None
        return Response(self.CreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    """GET: the dataset with its counts. DELETE: the dataset with its records, versions and imports; 409 with
    `used_by` naming each user while a training run, study, annotation project or running job uses it."""

    OutputSerializer = DatasetOutputSerializer

    @extend_schema(responses=DatasetOutputSerializer)
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        return Response(self.OutputSerializer(dataset_with_counts(dataset=dataset)).data)

    @extend_schema(responses={204: None, 409: inline_serializer("DatasetInUse", {
        "detail": serializers.CharField(), "where": serializers.CharField(), "code": serializers.CharField(),
        "used_by": serializers.ListField(child=serializers.CharField())})})
    def delete(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        try:
            dataset_delete(dataset=dataset, deleted_by=request.user)
        except ApplicationError as exc:
            if exc.code != "in_use":
                raise
            body = {"detail": exc.message, "where": exc.where, "code": exc.code, **exc.extra}
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


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

    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RecordFilterInput"

        q = serializers.CharField(required=False, allow_blank=True, default="")
        source = serializers.IntegerField(required=False, allow_null=True, default=None)
        tag = serializers.CharField(required=False, allow_blank=True, default="")
        kind = serializers.ChoiceField(choices=Record.Kind.choices, required=False, allow_blank=True, default="")
        label = serializers.BooleanField(required=False, allow_null=True, default=None)
        version = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="version number")
        split = serializers.ChoiceField(
            choices=["train", "validation", "test"], required=False, allow_blank=True, default=""
        )
        min_length = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
        max_length = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated(
            self,
            record_search(dataset=dataset, **record_filters(dataset, filters.validated_data)),
            self.OutputSerializer,
        )


def record_filters(dataset, values: dict) -> dict:
    """Validated filter values → record_search keywords; a version number is looked up in the dataset."""
    values = dict(values)
    number = values.pop("version", None)
    values["source_id"] = values.pop("source", None)
    values["version"] = None
    if number is not None:
        values["version"] = version_by_number(dataset=dataset, number=number)
        if values["version"] is None:
            raise ApplicationError(f"dataset {dataset.name!r} has no version {number}", where="version")
    if values["split"] and values["version"] is None:
        raise ApplicationError("a split belongs to a version: give version too", where="split")
    return values


class DatasetRecordTagsApi(APIView):
    """POST adds and removes tags on records of the dataset (tags are not content: frozen versions are unaffected)."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RecordTagsInput"

        records = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=10_000)
        add = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
        remove = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)

    class OutputSerializer(serializers.Serializer):
        changed = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = records_tag(
            dataset=dataset,
            record_ids=data.validated_data["records"],
            add=data.validated_data["add"],
            remove=data.validated_data["remove"],
            actor=request.user,
        )
        return Response(self.OutputSerializer({"changed": changed}).data)
