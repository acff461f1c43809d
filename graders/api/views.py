"""The graders REST API: list and save graders (definitions in OpenAI's grader shapes), and the bench, which scores
sample answers with saved graders or unsaved definitions. Reads need training.view, writes training.launch."""

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from graders.access import EDIT, VIEW, access_grader, access_grader_workspace
from graders.selectors import grader_list, graders_of
from graders.services import grader_bench, grader_create, grader_delete, grader_update


class GraderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    description = serializers.CharField()
    definition = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class GradersApi(APIView):
    """GET lists the graders the user may see (?workspace=); POST saves a new one."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        definition = serializers.JSONField()

    OutputSerializer = GraderOutputSerializer

    def get(self, request):
        workspace_id = request.query_params.get("workspace") or None
        if workspace_id is not None and not workspace_id.isdigit():
            raise ApplicationError("workspace must be a number", where="workspace")
        graders = grader_list(user=request.user)
        if workspace_id is not None:
            graders = graders.filter(workspace_id=int(workspace_id))
        return paginated(self, graders, self.OutputSerializer)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        workspace = access_grader_workspace(request.user, values.pop("workspace"))
        grader = grader_create(workspace=workspace, created_by=request.user, **values)
        return Response(self.OutputSerializer(grader).data, status=status.HTTP_201_CREATED)


class GraderDetailApi(APIView):
    """GET shows one grader; PUT replaces its name, description and definition; DELETE removes it."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        definition = serializers.JSONField()

    OutputSerializer = GraderOutputSerializer

    def get(self, request, grader_id: int):
        return Response(self.OutputSerializer(access_grader(request.user, grader_id)).data)

    def put(self, request, grader_id: int):
        grader = access_grader(request.user, grader_id, capability=EDIT)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grader = grader_update(grader=grader, updated_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(grader).data)

    def delete(self, request, grader_id: int):
        grader_delete(grader=access_grader(request.user, grader_id, capability=EDIT), deleted_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GraderBenchApi(APIView):
    """POST scores sample answers with saved graders (ids) and/or unsaved definitions; nothing is stored."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        graders = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        definitions = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
        samples = serializers.ListField(child=serializers.DictField())

    class OutputSerializer(serializers.Serializer):
        class RowSerializer(serializers.Serializer):
            class GradeSerializer(serializers.Serializer):
                score = serializers.FloatField()
                reason = serializers.CharField(allow_blank=True)
                parts = serializers.DictField(child=serializers.FloatField())

            answer = serializers.CharField(allow_blank=True)
            reference = serializers.CharField(allow_blank=True)
            grades = GradeSerializer(many=True)

        graders = serializers.ListField(child=serializers.CharField())
        rows = RowSerializer(many=True)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace = access_grader_workspace(request.user, values["workspace"], capability=VIEW)
        graders = graders_of(workspace=workspace, ids=values["graders"])
        if len(graders) != len(set(values["graders"])):
            raise ApplicationError("unknown grader", where="graders")
        result = grader_bench(workspace=workspace, graders=graders, definitions=values["definitions"],
                              samples=values["samples"])
        return Response(self.OutputSerializer(result).data)
