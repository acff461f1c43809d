"""API of model exports: GET lists an artifact's exports with their verification, POST queues one."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from training.access import LAUNCH, access_model_artifact
from training.models import ModelExport
from training.selectors import model_export_list
from training.services.exports import model_export_request


class ModelExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    artifact = serializers.IntegerField(source="artifact_id")
    format = serializers.CharField()
    status = serializers.CharField()
    path = serializers.CharField(help_text="relative to the storage root; empty for the vLLM command")
    command = serializers.CharField(help_text="vllm: the command that serves the artifact")
    is_verified = serializers.BooleanField(
        allow_null=True, help_text="the export answered the check prompt with the source model's tokens (greedy)")
    verification = serializers.DictField(
        help_text="prompt, source_tokens, export_tokens, source_text, export_text, runtime, same")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ModelExportsApi(APIView):
    """GET the artifact's exports (one per format at most), each with the check made by loading it back. POST
    {"format": "merged_bf16" | "onnx" | "vllm"} queues one (a "gpu" job; needs training.launch); a failed export is
    queued again, one queued or made is a 409."""

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=ModelExport.Format.choices)

    OutputSerializer = ModelExportOutputSerializer

    def get(self, request, artifact_id: int):
        artifact = access_model_artifact(request.user, artifact_id)
        return Response(self.OutputSerializer(model_export_list(artifact=artifact), many=True).data)

    def post(self, request, artifact_id: int):
        artifact = access_model_artifact(request.user, artifact_id, capability=LAUNCH)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = model_export_request(artifact=artifact, format=data.validated_data["format"],
                                      requested_by=request.user)
        return Response(self.OutputSerializer(export).data, status=status.HTTP_202_ACCEPTED)
