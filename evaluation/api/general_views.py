"""General-capability checks over the REST API: list, create (multipart with files, or JSON with server paths), read.

Creating needs study.manage in the workspace; reading needs study.manage or study.view_results (like study results).
"""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import parsers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_workspace
from common.api import JSONParser, paginated
from common.errors import ApplicationError
from evaluation.access import access_general_eval
from evaluation.general.selectors import (
    artifact_for_general_eval,
    base_model_for_general_eval,
    general_eval_list_for_user,
    general_eval_report,
    model_ref,
)
from evaluation.services.general_eval import general_eval_create


class ModelRefSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.IntegerField()
    name = serializers.CharField()


class GeneralEvalSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    workspace = serializers.IntegerField(source="workspace_id")
    status = serializers.CharField()
    progress = serializers.FloatField()
    shots = serializers.IntegerField()
    tolerance = serializers.FloatField()
    baseline = serializers.SerializerMethodField()
    candidate = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_baseline(self, obj) -> dict | None:
        return model_ref(obj, "baseline")

    def get_candidate(self, obj) -> dict | None:
        return model_ref(obj, "candidate")


class SubjectResultSerializer(serializers.Serializer):
    subject = serializers.CharField()
    items = serializers.IntegerField()
    baseline_correct = serializers.IntegerField()
    baseline_accuracy = serializers.FloatField()
    baseline_low = serializers.FloatField()
    baseline_high = serializers.FloatField()
    candidate_correct = serializers.IntegerField(allow_null=True)
    candidate_accuracy = serializers.FloatField(allow_null=True)
    candidate_low = serializers.FloatField(allow_null=True)
    candidate_high = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)
    lost = serializers.IntegerField(allow_null=True)
    gained = serializers.IntegerField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    exact = serializers.BooleanField(allow_null=True)
    verdict = serializers.CharField()


class GeneralEvalListCreateApi(APIView):
    """GET: the checks the user may read (paginated). POST: create one; scoring starts in the background."""

    parser_classes = [JSONParser, parsers.MultiPartParser, parsers.FormParser]

    @extend_schema_serializer(component_name="GeneralEvalCreateInput")
    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        baseline_base_model = serializers.IntegerField(required=False, allow_null=True, default=None)
        baseline_artifact = serializers.IntegerField(required=False, allow_null=True, default=None)
        candidate_base_model = serializers.IntegerField(required=False, allow_null=True, default=None)
        candidate_artifact = serializers.IntegerField(required=False, allow_null=True, default=None)
        shots = serializers.IntegerField(default=5)
        tolerance = serializers.FloatField(
            default=0.02, help_text="accuracy drop (0..1) beyond which a significant drop is a regression"
        )
        test_files = serializers.ListField(child=serializers.FileField(), required=False, default=list)
        dev_files = serializers.ListField(child=serializers.FileField(), required=False, default=list)
        test_path = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text="a file or folder on the server (under a model root or the workspace's storage)",
        )
        dev_path = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=GeneralEvalSummarySerializer(many=True))
    def get(self, request):
        return paginated(self, general_eval_list_for_user(user=request.user), GeneralEvalSummarySerializer)

    @extend_schema(request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
                   responses={201: GeneralEvalSummarySerializer})
    def post(self, request):
        data = request.data
        if hasattr(data, "getlist"):  # multipart: several files under one name
            data = {key: data.getlist(key) if key in ("test_files", "dev_files") else data.get(key) for key in data}
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        workspace = access_workspace(request.user, values["workspace"], capability="study.manage")
        models = {}
        for slot in ("baseline", "candidate"):
            base_id, artifact_id = values[f"{slot}_base_model"], values[f"{slot}_artifact"]
            if base_id is not None and artifact_id is not None:
                raise ApplicationError("choose a base model or a model artifact, not both", where=slot)
            if base_id is not None:
                models[slot] = base_model_for_general_eval(workspace=workspace, pk=base_id)
                if models[slot] is None:
                    raise ApplicationError(f"no base model {base_id} in this workspace", where=f"{slot}_base_model")
            elif artifact_id is not None:
                models[slot] = artifact_for_general_eval(workspace=workspace, pk=artifact_id)
                if models[slot] is None:
                    raise ApplicationError(
                        f"no model artifact {artifact_id} in this workspace", where=f"{slot}_artifact"
                    )
        if "baseline" not in models:
            raise ApplicationError("choose the baseline model", where="baseline_base_model")
        general_eval = general_eval_create(
            workspace=workspace, name=values["name"], baseline=models["baseline"], candidate=models.get("candidate"),
            shots=values["shots"], tolerance=values["tolerance"],
            test_uploads=[(f.name, f.read()) for f in values["test_files"]],
            dev_uploads=[(f.name, f.read()) for f in values["dev_files"]],
            test_path=values["test_path"], dev_path=values["dev_path"], created_by=request.user)
        return Response(GeneralEvalSummarySerializer(general_eval).data, status=status.HTTP_201_CREATED)


class GeneralEvalDetailApi(APIView):
    """A check's status, error, and, once scored, accuracy per subject and overall with the paired change."""

    @extend_schema_serializer(component_name="GeneralEvalDetail")
    class OutputSerializer(GeneralEvalSummarySerializer):
        error = serializers.CharField()
        items_per_s = serializers.FloatField(allow_null=True)
        files = serializers.SerializerMethodField()
        subjects = SubjectResultSerializer(source="report.subjects", many=True)
        overall = SubjectResultSerializer(source="report.overall", allow_null=True)

        def get_files(self, obj) -> list[dict]:
            return [{"name": f["name"], "role": f["role"], "source": f["source"]} for f in obj.files]

    @extend_schema(responses=OutputSerializer)
    def get(self, request, general_eval_id: int):
        general_eval = access_general_eval(request.user, general_eval_id)
        general_eval.report = general_eval_report(general_eval=general_eval)
        return Response(self.OutputSerializer(general_eval).data)
