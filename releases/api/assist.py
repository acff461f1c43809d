"""The assist workbench preset over the REST API, for production apps: ask a slot for four replies to a customer
message (two from production, two from the candidate, shuffled, each with an opaque id), then send the agent's pick
(or edit) by reply id; it is recorded through the feedback ingest. Nothing in either answer says which model wrote a
reply. Using it needs feedback.pick in the slot's workspace; only the agent who asked may pick. The support figures
need release.view.
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback.access import access_workbench_draft
from feedback.selectors import assist_support_rates
from feedback.services import workbench_index_of_reply, workbench_pick
from releases.access import access_deployment, access_deployment_for_assist
from releases.assist import deployment_assist_draft_create


class AssistReplySerializer(serializers.Serializer):
    id = serializers.CharField(source="reply_id")
    text = serializers.CharField()


class AssistDraftApi(APIView):
    """POST: four replies to a customer message from the slot's production model and its candidate, unnamed."""

    @extend_schema_serializer(component_name="AssistDraftInput")
    class InputSerializer(serializers.Serializer):
        message = serializers.CharField(allow_blank=True, trim_whitespace=False)
        system_prompt = serializers.CharField(required=False, allow_blank=True, default="")
        max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=2048, default=256)

    @extend_schema_serializer(component_name="AssistDraftOutput")
    class OutputSerializer(serializers.Serializer):
        draft = serializers.IntegerField(source="pk")
        replies = AssistReplySerializer(source="candidates", many=True)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, deployment_id: int):
        deployment = access_deployment_for_assist(request.user, deployment_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        draft = deployment_assist_draft_create(deployment=deployment, agent=request.user,
                                               customer_message=data["message"], system_prompt=data["system_prompt"],
                                               max_tokens=data["max_tokens"])
        return Response(self.OutputSerializer(draft).data, status=status.HTTP_201_CREATED)


class AssistPickApi(APIView):
    """POST: the agent's pick among a draft's replies, by reply id, with the text sent when they edited it. Picking
    again returns the first pick's events unchanged."""

    @extend_schema_serializer(component_name="AssistPickInput")
    class InputSerializer(serializers.Serializer):
        reply = serializers.CharField()
        edited_text = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema_serializer(component_name="AssistPickOutput")
    class OutputSerializer(serializers.Serializer):
        events = serializers.ListField(child=serializers.CharField())
        final_text = serializers.CharField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, draft_id: int):
        draft = access_workbench_draft(request.user, draft_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        index = workbench_index_of_reply(draft=draft, reply_id=serializer.validated_data["reply"])
        events = workbench_pick(draft=draft, agent=request.user, index=index,
                                edited_text=serializer.validated_data["edited_text"])
        draft.refresh_from_db(fields=["final_text"])
        return Response(self.OutputSerializer({"events": [event.kind for event in events],
                                               "final_text": draft.final_text}).data)


class AssistSupportSerializer(serializers.Serializer):
    production = serializers.DictField()
    candidate = serializers.DictField()
    picks = serializers.IntegerField()
    candidate_wins = serializers.IntegerField()
    edits = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    band = serializers.CharField(source="verdict.band")
    verdict = serializers.CharField(source="verdict.text")


class AssistSupportApi(APIView):
    """GET: the slot's online support rate from the assist preset, per production/candidate pair it has had: each
    pick one comparison, the Wilson interval and the studies' verdict band."""

    @extend_schema(responses=AssistSupportSerializer(many=True))
    def get(self, request, deployment_id: int):
        deployment = access_deployment(request.user, deployment_id)
        rows = assist_support_rates(workspace=deployment.workspace, deployment_id=deployment.pk)
        return Response(AssistSupportSerializer(rows, many=True).data)
