"""Annotation API: one view per operation; the services hold the rules, access.py the permission checks."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_workspace
from annotation.access import (
    MANAGE,
    WORK,
    access_assignment,
    access_dataset_version,
    access_label_schema,
    access_project,
)
from annotation.dashboard import AGREEMENT_PERIODS, agreement_over_time, ranking_agreement
from annotation.selectors import (
    annotation_projects_for_user,
    assignment_item,
    assignment_items,
    label_schema_tree,
    label_schemas_for_user,
    project_progress,
)
from annotation.services import (
    annotation_project_create,
    annotation_project_export,
    annotation_submit,
    assignment_claim_next,
    assignment_heartbeat,
    assignment_prefetch,
    assignment_skip,
    annotation_project_schema_move,
    label_schema_create,
)
from annotation.services.queue import MAX_AHEAD
from annotation.services.reviews import CAPABILITY_BY_LAYER
from common.api import paginated


def page_of(serializer_class, name: str):
    """The OpenAPI shape of a paginated list answer (common.api.paginated)."""
    return inline_serializer(name=name, fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    })


class LabelSchemaOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace_id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    multiple = serializers.BooleanField()
    leaf_only = serializers.BooleanField()
    rating_scale = serializers.IntegerField()
    rating_question = serializers.CharField()
    free_text_question = serializers.CharField()
    pairwise_question = serializers.CharField()
    ranking_question = serializers.CharField()
    published_at = serializers.DateTimeField()
    labels = serializers.SerializerMethodField()

    def get_labels(self, schema) -> list[dict]:
        return [asdict(node) for node in label_schema_tree(schema=schema)]


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace_id = serializers.IntegerField()
    name = serializers.CharField()
    dataset_version_id = serializers.IntegerField()
    schema_id = serializers.IntegerField()
    overlap = serializers.IntegerField()
    instructions = serializers.CharField()
    lease_seconds = serializers.IntegerField()
    status = serializers.CharField()
    mode = serializers.CharField()
    tasks_total = serializers.IntegerField()
    tasks_done = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class LabelSchemaListApi(APIView):
    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        tree = serializers.JSONField(
            required=False,
            default=list,
            help_text="the labels; may be empty when the schema asks a rating, free-text, A/B or ranking question",
        )
        multiple = serializers.BooleanField(default=False)
        leaf_only = serializers.BooleanField(default=True)
        rating_scale = serializers.IntegerField(default=0)
        rating_question = serializers.CharField(default="", allow_blank=True)
        free_text_question = serializers.CharField(default="", allow_blank=True)
        pairwise_question = serializers.CharField(default="", allow_blank=True)
        ranking_question = serializers.CharField(
            default="",
            allow_blank=True,
            help_text="a question to rank the answers to one prompt, best first; blank: none",
        )

        class Meta:
            ref_name = "LabelSchemaCreateInput"

    OutputSerializer = LabelSchemaOutputSerializer

    @extend_schema(responses={200: page_of(LabelSchemaOutputSerializer, "LabelSchemaPage")})
    def get(self, request):
        return paginated(self, label_schemas_for_user(user=request.user), self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: LabelSchemaOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = access_workspace(request.user, data.validated_data.pop("workspace"), capability=MANAGE)
        schema = label_schema_create(workspace=workspace, created_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(schema).data, status=status.HTTP_201_CREATED)


class ProjectListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        dataset_version = serializers.IntegerField()
        schema = serializers.IntegerField()
        overlap = serializers.IntegerField(default=1, min_value=1)
        instructions = serializers.CharField(default="", allow_blank=True)
        lease_seconds = serializers.IntegerField(default=600)

        class Meta:
            ref_name = "AnnotationProjectCreateInput"

    OutputSerializer = ProjectOutputSerializer

    @extend_schema(responses={200: page_of(ProjectOutputSerializer, "AnnotationProjectPage")})
    def get(self, request):
        return paginated(self, annotation_projects_for_user(user=request.user), self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        version = access_dataset_version(request.user, fields.pop("dataset_version"))
        schema = access_label_schema(request.user, fields.pop("schema"))
        project = annotation_project_create(workspace=version.dataset.workspace, dataset_version=version, schema=schema,
                                            created_by=request.user, **fields)
        project = annotation_projects_for_user(user=request.user).get(pk=project.pk)
        return Response(self.OutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    OutputSerializer = ProjectOutputSerializer

    @extend_schema(responses={200: ProjectOutputSerializer})
    def get(self, request, project_id: int):
        project = access_project(request.user, project_id)
        progress = project_progress(project=project)
        project.tasks_total, project.tasks_done = progress.tasks_total, progress.tasks_done
        return Response(self.OutputSerializer(project).data)


class CandidateOutputSerializer(serializers.Serializer):
    entry_id = serializers.IntegerField()
    number = serializers.IntegerField()
    content = serializers.CharField()


class ItemOutputSerializer(serializers.Serializer):
    """One item of the queue: the conversation to label and the labels to pick from."""

    assignment_id = serializers.IntegerField(source="assignment.pk")
    expires_at = serializers.DateTimeField()
    task_id = serializers.IntegerField(source="assignment.task_id")
    project_id = serializers.IntegerField(source="project.pk")
    record_id = serializers.IntegerField(source="record.pk")
    kind = serializers.CharField(source="record.kind")
    conversation = serializers.JSONField(source="record.messages")
    chosen = serializers.JSONField(source="record.chosen")
    rejected = serializers.JSONField(source="record.rejected")
    response = serializers.CharField()
    correctable = serializers.BooleanField()
    instructions = serializers.CharField(source="project.instructions")
    multiple = serializers.BooleanField(source="project.schema.multiple")
    leaf_only = serializers.BooleanField(source="project.schema.leaf_only")
    rating_scale = serializers.IntegerField(source="project.schema.rating_scale")
    rating_question = serializers.CharField(source="project.schema.rating_question")
    free_text_question = serializers.CharField(source="project.schema.free_text_question")
    pairwise_question = serializers.CharField(source="project.schema.pairwise_question")
    ranking_question = serializers.CharField(source="project.schema.ranking_question")
    candidates = CandidateOutputSerializer(
        many=True,
        help_text="a ranking item's answers as this annotator sees them (submit "
        "their entry_ids, best first, as `ranking`); empty otherwise",
    )
    labels = serializers.SerializerMethodField()

    def get_labels(self, item) -> list[dict]:
        return [asdict(node) for node in item.labels]


class ProjectClaimApi(APIView):
    """Lease the next item to the caller: 200 with the item, or 204 when nothing is left for them."""

    OutputSerializer = ItemOutputSerializer

    @extend_schema(request=None, responses={200: ItemOutputSerializer, 204: None})
    def post(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(WORK,))
        assignment = assignment_claim_next(project=project, annotator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.OutputSerializer(assignment_item(assignment=assignment, project=project)).data)


class ProjectPrefetchApi(APIView):
    """Hold the current item and lease up to `ahead` more, so the next claims answer at once. Returns every held item,
    the current one first (an empty list when nothing is left)."""

    class InputSerializer(serializers.Serializer):
        ahead = serializers.IntegerField(default=MAX_AHEAD)

        class Meta:
            ref_name = "AnnotationPrefetchInput"

    OutputSerializer = ItemOutputSerializer

    @extend_schema(request=InputSerializer, responses={200: ItemOutputSerializer(many=True)})
    def post(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(WORK,))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        held = assignment_prefetch(project=project, annotator=request.user, ahead=data.validated_data["ahead"])
        items = assignment_items(assignments=held, project=project)
        return Response(self.OutputSerializer(items, many=True).data)


class AssignmentHeartbeatApi(APIView):
    """Keep the lease on an item (and on the items leased ahead) alive while the annotator works on it."""

    class OutputSerializer(serializers.Serializer):
        assignment_id = serializers.IntegerField(source="pk")
        expires_at = serializers.DateTimeField()

        class Meta:
            ref_name = "AssignmentHeartbeatOutput"

    @extend_schema(request=None, responses={200: OutputSerializer(many=True)})
    def post(self, request, assignment_id: int):
        assignment = access_assignment(request.user, assignment_id)
        renewed = assignment_heartbeat(assignment=assignment, annotator=request.user)
        return Response(self.OutputSerializer(renewed, many=True).data)


class AnnotationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment_id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    annotator_kind = serializers.CharField()
    labels = serializers.SerializerMethodField()
    corrected_response = serializers.CharField()
    comment = serializers.CharField()
    rating = serializers.IntegerField(allow_null=True)
    free_text = serializers.CharField()
    preference = serializers.CharField()
    ranking = serializers.ListField(child=serializers.IntegerField())
    time_spent_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_labels(self, annotation) -> list[str]:
        return sorted(label.path for label in annotation.labels.all())


class AssignmentSubmitApi(APIView):
    """Submit labels (and optionally a corrected answer) for an assignment. Repeating a submit returns the same
    annotation."""

    class InputSerializer(serializers.Serializer):
        label_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
        corrected_response = serializers.CharField(default="", allow_blank=True, trim_whitespace=False)
        comment = serializers.CharField(default="", allow_blank=True)
        time_spent_ms = serializers.IntegerField(default=0, min_value=0)
        rating = serializers.IntegerField(
            default=None, allow_null=True, help_text="1..the schema's rating_scale, when it has one"
        )
        free_text = serializers.CharField(
            default="", allow_blank=True, help_text="the answer to the schema's free-text question"
        )
        preference = serializers.ChoiceField(
            choices=["", "a", "b", "tie"],
            default="",
            allow_blank=True,
            help_text="pairwise: a (the record's chosen answer), b (its rejected one) or tie",
        )
        ranking = serializers.ListField(child=serializers.IntegerField(), default=list,
                                        help_text="a ranking item: every candidate's entry_id, best first")

        class Meta:
            ref_name = "AnnotationSubmitInput"

    OutputSerializer = AnnotationOutputSerializer

    @extend_schema(request=InputSerializer, responses={200: AnnotationOutputSerializer})
    def post(self, request, assignment_id: int):
        assignment = access_assignment(request.user, assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = annotation_submit(assignment=assignment, submitted_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(annotation).data)


class AssignmentSkipApi(APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(default="", allow_blank=True, max_length=500)

        class Meta:
            ref_name = "AssignmentSkipInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        skip_reason = serializers.CharField()

        class Meta:
            ref_name = "AssignmentSkipOutput"

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request, assignment_id: int):
        assignment = access_assignment(request.user, assignment_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        skipped = assignment_skip(assignment=assignment, reason=data.validated_data["reason"], skipped_by=request.user)
        return Response(self.OutputSerializer(skipped).data)


class ProjectExportApi(APIView):
    """Freeze the project's annotations into a new version of its dataset. `aggregation` picks the label rule for items
    several annotators labelled: majority (default), reliability (ties by gold accuracy) or dawid_skene. `output`
    "preference_pairs" freezes the rankings and A/B choices as preference records (DPO-ready) instead of the records
    with their labels ("records", the default)."""

    class InputSerializer(serializers.Serializer):
        aggregation = serializers.CharField(required=False, default="majority")
        output = serializers.CharField(required=False, default="records")

        class Meta:
            ref_name = "AnnotationExportInput"

    class OutputSerializer(serializers.Serializer):
        version_id = serializers.IntegerField(source="pk")
        dataset_id = serializers.IntegerField()
        number = serializers.IntegerField()
        parent_id = serializers.IntegerField()
        counts = serializers.JSONField()
        operation_detail = serializers.JSONField()

        class Meta:
            ref_name = "AnnotationExportOutput"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE,))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = annotation_project_export(project=project, created_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(version).data, status=status.HTTP_201_CREATED)


class ProjectAgreementApi(APIView):
    """The project's agreement over time: Krippendorff's alpha (nominal) per day or week over the items with several
    annotations, each counted in the period of its last annotation (managers, reviewers and experts). On a schema with
    a ranking question also the items ranked by several annotators and the mean Kendall tau-b between their rankings."""

    class InputSerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=AGREEMENT_PERIODS, required=False, default="week")

        class Meta:
            ref_name = "AnnotationAgreementInput"

    class PointSerializer(serializers.Serializer):
        start = serializers.DateField()
        items = serializers.IntegerField()
        alpha = serializers.FloatField(allow_null=True)

        class Meta:
            ref_name = "AnnotationAgreementPoint"

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: inline_serializer(
                name="AnnotationAgreementOutput",
                fields={
                    "period": serializers.CharField(),
                    "points": PointSerializer(many=True),
                    "ranking_items": serializers.IntegerField(),
                    "ranking_tau": serializers.FloatField(allow_null=True),
                },
            )
        },
    )
    def get(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE, *set(CAPABILITY_BY_LAYER.values())))
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        period = data.validated_data["period"]
        points = agreement_over_time(project=project, period=period)
        ranking_items, ranking_tau, _ = ranking_agreement(project=project)
        return Response({"period": period, "points": self.PointSerializer(points, many=True).data,
                         "ranking_items": ranking_items, "ranking_tau": ranking_tau})


class ProjectSchemaMoveApi(APIView):
    """Move the project to a newer published version of its label schema. `mapping` maps old label paths to new ones
    (only those that change); the complete mapping used is recorded and returned."""

    class InputSerializer(serializers.Serializer):
        schema_id = serializers.IntegerField()
        mapping = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

        class Meta:
            ref_name = "AnnotationSchemaMoveInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        project_id = serializers.IntegerField()
        from_schema_id = serializers.IntegerField()
        to_schema_id = serializers.IntegerField()
        mapping = serializers.JSONField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "AnnotationSchemaMoveOutput"

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE,))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schema = access_label_schema(request.user, data.validated_data["schema_id"])
        move = annotation_project_schema_move(project=project, schema=schema, mapping=data.validated_data["mapping"],
                                              moved_by=request.user)
        return Response(self.OutputSerializer(move).data)
