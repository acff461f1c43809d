"""The model endpoint REST API. Reads need model_endpoints.use, writes model_endpoints.manage, in the row's workspace.

API keys go in (api_key, stored encrypted; or api_key_env, the name of an environment variable) and never come out:
responses only say has_api_key and api_key_env.
"""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from llm.access import MANAGE, access_endpoint_workspace, access_model_endpoint
from llm.selectors import model_endpoint_list
from llm.services.endpoints import (
    model_endpoint_create,
    model_endpoint_delete,
    model_endpoint_test,
    model_endpoint_update,
)


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    has_api_key = serializers.BooleanField()
    api_key_env = serializers.CharField()
    timeout_seconds = serializers.FloatField()
    max_retries = serializers.IntegerField()
    backoff_seconds = serializers.FloatField()
    concurrency = serializers.IntegerField()
    requests_per_minute = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointListOutputSerializer(EndpointOutputSerializer):
    call_count = serializers.IntegerField()
    cached_call_count = serializers.IntegerField()
    tokens_used = serializers.IntegerField()


class EndpointSettingsSerializer(serializers.Serializer):
    base_url = serializers.CharField(max_length=500)
    model = serializers.CharField(max_length=300)
    api_key = serializers.CharField(required=False, allow_blank=True, write_only=True, trim_whitespace=True)
    api_key_env = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timeout_seconds = serializers.FloatField(required=False)
    max_retries = serializers.IntegerField(required=False)
    backoff_seconds = serializers.FloatField(required=False)
    concurrency = serializers.IntegerField(required=False)
    requests_per_minute = serializers.IntegerField(required=False)


class ModelEndpointsApi(APIView):
    """GET lists the endpoints the user may use (?workspace=); POST creates one."""

    class InputSerializer(EndpointSettingsSerializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)

    OutputSerializer = EndpointListOutputSerializer

    def get(self, request):
        workspace_id = request.query_params.get("workspace") or None
        if workspace_id is not None and not workspace_id.isdigit():
            raise ApplicationError("workspace must be a number", where="workspace")
        endpoints = model_endpoint_list(user=request.user)
        if workspace_id is not None:
            endpoints = endpoints.filter(workspace_id=int(workspace_id))
        return paginated(self, endpoints, self.OutputSerializer)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_endpoint_workspace(request.user, values.pop("workspace"))
        endpoint = model_endpoint_create(workspace=workspace, created_by=request.user, **values)
        return Response(EndpointOutputSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class ModelEndpointDetailApi(APIView):
    """GET shows one endpoint; PATCH changes the given settings; DELETE removes it (its call log goes with it)."""

    class InputSerializer(EndpointSettingsSerializer):
        name = serializers.CharField(max_length=200, required=False)
        base_url = serializers.CharField(max_length=500, required=False)
        model = serializers.CharField(max_length=300, required=False)
        clear_api_key = serializers.BooleanField(required=False, default=False)

    OutputSerializer = EndpointOutputSerializer

    def get(self, request, endpoint_id: int):
        return Response(self.OutputSerializer(access_model_endpoint(request.user, endpoint_id)).data)

    def patch(self, request, endpoint_id: int):
        endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = model_endpoint_update(endpoint=endpoint, updated_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(endpoint).data)

    def delete(self, request, endpoint_id: int):
        endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
        model_endpoint_delete(endpoint=endpoint, deleted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelEndpointTestApi(APIView):
    """POST checks the connection: reaches GET {base_url}/models with the key and looks for the configured model."""

    class InputSerializer(serializers.Serializer):
        """No body: the endpoint in the path is the whole request."""

    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        message = serializers.CharField()
        latency_ms = serializers.FloatField()
        models = serializers.ListField(child=serializers.CharField())

    def post(self, request, endpoint_id: int):
        endpoint = access_model_endpoint(request.user, endpoint_id, capability=MANAGE)
        return Response(self.OutputSerializer(model_endpoint_test(endpoint=endpoint)).data)
