"""Import jobs over the REST API: starting an import into a dataset, following it, its error report, resuming it."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import JSONField, JSONParser, paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_dataset, access_import_job
from datahub.downloads import import_errors_response
from datahub.models import ImportJob
from datahub.selectors import dataset_import_jobs, source_in_workspace
from datahub.services.imports import import_job_create, import_job_resume


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    source = serializers.IntegerField(source="source_id", allow_null=True)
    file_name = serializers.CharField()
    format = serializers.CharField()
    detected_format = serializers.CharField()
    container = serializers.CharField()
    detected_container = serializers.CharField()
    encoding = serializers.CharField()
    column_map = serializers.JSONField()
    skip_invalid = serializers.BooleanField()
    max_record_chars = serializers.IntegerField()
    status = serializers.CharField()
    stale = serializers.BooleanField(source="is_stale")
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    created_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    invalid_count = serializers.IntegerField()
    resume_row = serializers.IntegerField()
    error = serializers.CharField()
    where = serializers.CharField(source="error_where")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    search_pending = serializers.BooleanField()


class DatasetImportsApi(APIView):
    """GET lists the dataset's import jobs; POST uploads a file (multipart "file") and queues its import."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ImportCreateInput"

        file = serializers.FileField(allow_empty_file=True)
        format = serializers.ChoiceField(choices=ImportJob.Format.choices, default=ImportJob.Format.AUTO)
        source = serializers.IntegerField(required=False, allow_null=True)
        container = serializers.ChoiceField(
            choices=ImportJob.Container.choices, required=False, default="", allow_blank=True
        )
        # binary=True: in a multipart form the mapping arrives as JSON text, e.g. {"instruction": "question"}.
        column_map = JSONField(required=False, default=dict, binary=True)
        skip_invalid = serializers.BooleanField(required=False, default=False)
        max_record_chars = serializers.IntegerField(required=False, allow_null=True, default=None)

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
                raise ApplicationError(
                    f"no source {data.validated_data['source']} in workspace {dataset.workspace.name!r}", where="source"
                )
        upload = data.validated_data["file"]
        values = data.validated_data
        job = import_job_create(dataset=dataset, uploaded_file=upload, file_name=upload.name, format=values["format"],
                                source=source, created_by=request.user, container=values["container"],
                                column_map=values["column_map"], skip_invalid=values["skip_invalid"],
                                max_record_chars=values["max_record_chars"])
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailApi(APIView):
    """Poll this for status, progress (processed / total) and, on failure, the error and where it happened."""

    OutputSerializer = ImportJobOutputSerializer

    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, import_job_id: int):
        return Response(self.OutputSerializer(access_import_job(request.user, import_job_id)).data)


class ImportJobErrorsApi(APIView):
    """The rows an import with skip_invalid left out, as CSV: line, field, reason."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, import_job_id: int):
        return import_errors_response(access_import_job(request.user, import_job_id))


class ImportJobResumeApi(APIView):
    """POST queues a stalled import again (its worker died); it continues from its last committed row."""

    OutputSerializer = ImportJobOutputSerializer

    @extend_schema(request=None, responses={202: ImportJobOutputSerializer})
    def post(self, request, import_job_id: int):
        job = import_job_resume(job=access_import_job(request.user, import_job_id, capability=EDIT), actor=request.user)
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
