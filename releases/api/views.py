"""Scorecards, the workspace's weights and deployment slots over the REST API.

Reading needs release.view in the workspace; computing a scorecard, setting weights, setting a slot's candidate,
promoting and rolling back need release.manage; promoting past a failing gate needs release.override and a reason.
The HTML pages (frontend/views/releases.py) call the same services.
"""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_workspace, user_can
from common.api import paginated
from common.errors import ApplicationError
from releases.access import access_deployment, access_scorecard
from releases.gate import deployment_gate
from releases.scoring import DIMENSIONS, READY_TO_SHIP, RULES
from releases.selectors import (
    deployment_list_for_user,
    model_in_workspace,
    scorecard_list_for_user,
    scorecard_weights,
)
from releases.services.deployments import (
    deployment_candidate_set,
    deployment_create,
    deployment_promote,
    deployment_rollback,
    model_ref,
)
from releases.services.scorecards import release_policy_set, scorecard_create
from training.access import access_model_artifact

MANAGE = "release.manage"


class ScorecardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    artifact = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    status = serializers.CharField()
    error = serializers.CharField()
    weights = serializers.DictField(child=serializers.FloatField())
    dimensions = serializers.ListField(child=serializers.DictField())
    total = serializers.FloatField(allow_null=True)
    is_complete = serializers.BooleanField()
    is_ready_to_ship = serializers.BooleanField()
    rules = serializers.SerializerMethodField()
    ready_to_ship_at = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_artifact(self, obj) -> dict:
        return model_ref(obj.artifact)

    def get_baseline(self, obj) -> dict:
        return model_ref(obj.baseline)

    def get_rules(self, obj) -> dict:
        return {key: str(RULES[key]) for key in DIMENSIONS}

    def get_ready_to_ship_at(self, obj) -> float:
        return READY_TO_SHIP


class ScorecardListCreateApi(APIView):
    """GET: scorecards the user may read (paginated; ?artifact=ID for one model's). POST: compute a scorecard of a
    model artifact against its base (queued; the job measures speed and deployability)."""

    class InputSerializer(serializers.Serializer):
        artifact = serializers.IntegerField()

    @extend_schema(responses=ScorecardSerializer(many=True))
    def get(self, request):
        artifact_id = request.query_params.get("artifact")
        queryset = scorecard_list_for_user(user=request.user)
        if artifact_id is not None:
            if not artifact_id.isdigit():
                raise ApplicationError("artifact is a model artifact's id", where="artifact")
            queryset = queryset.filter(artifact_id=int(artifact_id))
        return paginated(self, queryset, ScorecardSerializer)

    @extend_schema(request=InputSerializer, responses={201: ScorecardSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifact = access_model_artifact(request.user, serializer.validated_data["artifact"])
        if not user_can(request.user, MANAGE, artifact.workspace):
            raise PermissionDenied
        scorecard = scorecard_create(artifact=artifact, created_by=request.user)
        return Response(ScorecardSerializer(scorecard).data, status=status.HTTP_201_CREATED)


class ScorecardDetailApi(APIView):
    @extend_schema(responses=ScorecardSerializer)
    def get(self, request, scorecard_id: int):
        return Response(ScorecardSerializer(access_scorecard(request.user, scorecard_id)).data)


class ReleasePolicyApi(APIView):
    """GET: the workspace's scorecard weights. PUT: set them (five, each 0..1, summing to 1)."""

    class InputSerializer(serializers.Serializer):
        weights = serializers.DictField(child=serializers.FloatField())

    class OutputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        weights = serializers.DictField(child=serializers.FloatField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request, workspace_id: int):
        workspace = access_workspace(request.user, workspace_id, capability="release.view")
        return Response({"workspace": workspace.pk, "weights": scorecard_weights(workspace=workspace)})

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request, workspace_id: int):
        workspace = access_workspace(request.user, workspace_id, capability=MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = release_policy_set(workspace=workspace, weights=serializer.validated_data["weights"],
                                    updated_by=request.user)
        return Response({"workspace": workspace.pk, "weights": policy.weights})


class DeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    production = serializers.SerializerMethodField()
    candidate = serializers.SerializerMethodField()
    previous = serializers.SerializerMethodField()
    candidate_share = serializers.FloatField()
    support_band_low = serializers.FloatField()

    def get_production(self, obj) -> dict:
        return model_ref(obj.production)

    def get_candidate(self, obj) -> dict | None:
        return model_ref(obj.candidate)

    def get_previous(self, obj) -> dict | None:
        return model_ref(obj.previous)


class DeploymentDetailSerializer(DeploymentSerializer):
    gate = serializers.SerializerMethodField()

    def get_gate(self, obj) -> dict:
        return deployment_gate(deployment=obj).as_dict()


class DeploymentListCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=100)
        production_base_model = serializers.IntegerField(required=False, allow_null=True, default=None)
        production_artifact = serializers.IntegerField(required=False, allow_null=True, default=None)
        support_band_low = serializers.FloatField(default=0.5)

    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request):
        return paginated(self, deployment_list_for_user(user=request.user), DeploymentSerializer)

    @extend_schema(request=InputSerializer, responses={201: DeploymentDetailSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        workspace = access_workspace(request.user, values["workspace"], capability=MANAGE)
        production = model_in_workspace(workspace, base_model_id=values["production_base_model"],
                               artifact_id=values["production_artifact"], where="production")
        if production is None:
            raise ApplicationError("name the production model", where="production")
        deployment = deployment_create(workspace=workspace, name=values["name"], production=production,
                                       created_by=request.user, support_band_low=values["support_band_low"])
        return Response(DeploymentDetailSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    """A slot with its models and the release gate for its candidate (each condition's state, reason, evidence)."""

    @extend_schema(responses=DeploymentDetailSerializer)
    def get(self, request, deployment_id: int):
        return Response(DeploymentDetailSerializer(access_deployment(request.user, deployment_id)).data)


class DeploymentCandidateApi(APIView):
    """Set (or clear, with neither id) the candidate, its share of end users and the gate's band."""

    class InputSerializer(serializers.Serializer):
        candidate_base_model = serializers.IntegerField(required=False, allow_null=True, default=None)
        candidate_artifact = serializers.IntegerField(required=False, allow_null=True, default=None)
        candidate_share = serializers.FloatField(default=0.1)
        support_band_low = serializers.FloatField(default=0.5)

    @extend_schema(request=InputSerializer, responses=DeploymentDetailSerializer)
    def post(self, request, deployment_id: int):
        deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        candidate = model_in_workspace(deployment.workspace, base_model_id=values["candidate_base_model"],
                              artifact_id=values["candidate_artifact"], where="candidate")
        deployment = deployment_candidate_set(deployment=deployment, candidate=candidate,
                                              share=values["candidate_share"],
                                              support_band_low=values["support_band_low"], set_by=request.user)
        return Response(DeploymentDetailSerializer(deployment).data)


class DeploymentPromoteApi(APIView):
    """Promote the candidate: the gate must pass, or an admin overrides it with a written reason."""

    @extend_schema_serializer(component_name="DeploymentPromoteInput")
    class InputSerializer(serializers.Serializer):
        override_reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=DeploymentDetailSerializer)
    def post(self, request, deployment_id: int):
        deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment = deployment_promote(deployment=deployment, promoted_by=request.user,
                                        override_reason=serializer.validated_data["override_reason"])
        return Response(DeploymentDetailSerializer(deployment).data)


class DeploymentRollbackApi(APIView):
    @extend_schema(request=None, responses=DeploymentDetailSerializer)
    def post(self, request, deployment_id: int):
        deployment = access_deployment(request.user, deployment_id, capability=MANAGE)
        deployment = deployment_rollback(deployment=deployment, rolled_back_by=request.user)
        return Response(DeploymentDetailSerializer(deployment).data)
