"""The datahub REST API. Reads need data.view, writes data.edit, in the row's workspace.

One APIView per resource path; each method is one operation with its nested InputSerializer /
OutputSerializer, and calls a selector or a service: the views hold no rules.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import JSONField, JSONParser, paginated
from common.errors import ApplicationError
from datahub.access import EDIT, access_data_workspace, access_dataset, access_import_job, access_version
from datahub.downloads import (
    export_shape_check,
    export_split_check,
    import_errors_response,
    version_hf_response,
    version_jsonl_response,
)
from datahub.models import ImportJob, Record, Source
from datahub.selectors import (
    dataset_import_jobs,
    dataset_list,
    dataset_versions,
    dataset_with_counts,
    record_search,
    source_in_workspace,
    source_list,
    version_by_number,
    version_card,
    version_diff,
    version_leakage,
)
from datahub.services.datasets import dataset_create, dataset_delete, source_create
from datahub.services.imports import dataset_import_new, import_job_create, import_job_resume
from datahub.services.records import records_tag
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

        import_job = serializers.IntegerField(allow_null=True, help_text="the first file's import job, if a file was sent")

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
            job = dataset_import_new(workspace=workspace, created_by=request.user, uploaded_file=upload, file_name=upload.name,
                                     format=file_format, **values)
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
        split = serializers.ChoiceField(choices=["train", "validation", "test"], required=False, allow_blank=True, default="")
        min_length = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
        max_length = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        dataset = access_dataset(request.user, dataset_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated(self, record_search(dataset=dataset, **record_filters(dataset, filters.validated_data)), self.OutputSerializer)


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
        changed = records_tag(dataset=dataset, record_ids=data.validated_data["records"], add=data.validated_data["add"],
                              remove=data.validated_data["remove"], actor=request.user)
        return Response(self.OutputSerializer({"changed": changed}).data)


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
        container = serializers.ChoiceField(choices=ImportJob.Container.choices, required=False, default="", allow_blank=True)
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
                raise ApplicationError(f"no source {data.validated_data['source']} in workspace {dataset.workspace.name!r}", where="source")
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
        version = dataset_version_freeze(dataset=dataset, created_by=request.user, seed=data.validated_data["seed"],
                                         ratios=data.validated_data.get("ratios") or DEFAULT_RATIOS, note=data.validated_data["note"],
                                         stratify=data.validated_data["stratify"])
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
    """Test prompts (or ?split=validation) that also appear in train, exactly or nearly (Jaccard of character 5-grams ≥ 0.8)."""

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

    @extend_schema(parameters=[OpenApiParameter("base_model", int, description="count tokens with this base model's tokenizer")],
                   responses=OutputSerializer)
    def get(self, request, version_id: int):
        # The card composes the data hub's counts with training's token lengths (a base model's tokenizer).
        from training.selectors import version_card_base_model, version_token_lengths

        version = access_version(request.user, version_id)
        base_model_id = request.query_params.get("base_model") or ""
        base_model = version_card_base_model(user=request.user, version=version, base_model_id=base_model_id) if base_model_id else None
        card = version_card(version=version)
        card["tokens"] = version_token_lengths(version=version, base_model=base_model) if base_model is not None else None
        return Response(self.OutputSerializer(card).data)
