"""AI annotator API: add one to a project, list them, start a run, follow a run. Managers only (annotation.manage)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import MANAGE, access_ai_annotator, access_ai_run, access_project
from annotation.api.views import page_of
from annotation.selectors import ai_annotators_of, ai_run_answers
from annotation.services import ai_annotator_create, ai_run_create
from annotation.services.ai_annotators import MAX_LIMIT
from common.api import paginated
from llm.access import access_model_endpoint


class AIRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ai_annotator_id = serializers.IntegerField()
    status = serializers.CharField()
    limit = serializers.IntegerField()
    processed = serializers.IntegerField()
    annotated = serializers.IntegerField()
    failed = serializers.IntegerField()
    error = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class AIAnnotatorOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField(source="user.username")
    kind = serializers.SerializerMethodField()
    endpoint_id = serializers.IntegerField()
    endpoint = serializers.CharField(source="endpoint.name")
    model = serializers.CharField(source="endpoint.model")
    prompt_template = serializers.CharField()
    prompt_version = serializers.CharField()
    temperature = serializers.FloatField()
    max_tokens = serializers.IntegerField()
    annotations = serializers.IntegerField(source="annotations_n", default=0)
    latest_run = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_kind(self, ai) -> str:
        return "ai"

    def get_latest_run(self, ai) -> dict | None:
        if getattr(ai, "run_id", None) is None:
            return None
        return {
            name: getattr(ai, f"run_{name}")
            for name in ("id", "status", "limit", "processed", "annotated", "failed", "error")
        }


class AIAnnotatorListApi(APIView):
    """GET the project's AI annotators; POST adds one (a model endpoint of the project's workspace, a prompt template
    with {conversation} and {labels}, and {questions} when the schema asks more than labels, a temperature). Without a
    template the default for the schema is used; without max_tokens, 64 for labels only and 256 otherwise."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        endpoint = serializers.IntegerField()
        prompt_template = serializers.CharField(required=False, default="", allow_blank=True)
        temperature = serializers.FloatField(required=False, default=0.0)
        max_tokens = serializers.IntegerField(required=False, default=None, allow_null=True)

        class Meta:
            ref_name = "AIAnnotatorCreateInput"

    OutputSerializer = AIAnnotatorOutputSerializer

    @extend_schema(responses={200: page_of(AIAnnotatorOutputSerializer, "AIAnnotatorPage")})
    def get(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE,))
        return paginated(self, ai_annotators_of(project=project), self.OutputSerializer)

    @extend_schema(request=InputSerializer, responses={201: AIAnnotatorOutputSerializer})
    def post(self, request, project_id: int):
        project = access_project(request.user, project_id, capabilities=(MANAGE,))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        endpoint = access_model_endpoint(request.user, fields.pop("endpoint"))
        ai = ai_annotator_create(project=project, endpoint=endpoint, created_by=request.user, **fields)
        return Response(
            self.OutputSerializer(ai_annotators_of(project=project).get(pk=ai.pk)).data, status=status.HTTP_201_CREATED
        )


class AIRunStartApi(APIView):
    """Queue a run of the AI annotator over up to `limit` items; follow it at /annotation/ai-runs/<id>/."""

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT)

        class Meta:
            ref_name = "AIRunStartInput"

    @extend_schema(request=InputSerializer, responses={202: AIRunOutputSerializer})
    def post(self, request, ai_annotator_id: int):
        ai = access_ai_annotator(request.user, ai_annotator_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = ai_run_create(ai_annotator=ai, limit=data.validated_data["limit"], created_by=request.user)
        return Response(AIRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AIRunDetailApi(APIView):
    """A run's progress and its latest answers (the model's text, the labels and the answers to the schema's other
    questions it became, or why it could not be used). rating is null and free_text and preference are "" when not
    asked or not usable; ranking lists a ranking item's entry ids, best first (empty otherwise)."""

    class AnswerSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        task_id = serializers.IntegerField()
        annotation_id = serializers.IntegerField(allow_null=True)
        outcome = serializers.CharField()
        label_paths = serializers.JSONField()
        rating = serializers.IntegerField(allow_null=True)
        free_text = serializers.CharField()
        preference = serializers.CharField()
        ranking = serializers.ListField(child=serializers.IntegerField())
        reason = serializers.CharField()
        response_text = serializers.CharField()
        model = serializers.CharField()
        prompt_version = serializers.CharField()

        class Meta:
            ref_name = "AIAnswerOutput"

    class OutputSerializer(AIRunOutputSerializer):
        answers = serializers.SerializerMethodField()

        class Meta:
            ref_name = "AIRunDetailOutput"

        def get_answers(self, run) -> list[dict]:
            return AIRunDetailApi.AnswerSerializer(ai_run_answers(run=run), many=True).data

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, ai_run_id: int):
        run = access_ai_run(request.user, ai_run_id)
        return Response(self.OutputSerializer(run).data)
