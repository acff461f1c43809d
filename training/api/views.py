"""The training REST API. Reads need training.view, writes training.launch, in the row's workspace.

One APIView per resource path; each method is one operation with its nested InputSerializer /
OutputSerializer, and calls a selector or a service: the views hold no rules.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import paginated
from common.errors import ApplicationError
from datahub.models import DatasetVersion
from datahub.access import access_version
from training.access import (
    LAUNCH,
    access_base_model,
    access_model_artifact,
    access_training_run,
    access_training_workspace,
)
from training.models import BaseModel, TrainingRun
from training.runner.config import hyperparameter_fields
from training.selectors import (
    base_model_list,
    metric_series,
    model_artifact_list,
    training_run_checkpoints,
    training_run_list,
    training_run_log_tail,
    training_run_metric_points,
    training_runs_compare,
)
from training.services.artifacts import model_artifact_zip_name, model_artifact_zip_stream
from training.services.base_models import base_model_register
from training.services.merging import model_artifact_merge_request
from training.services.recommendations import GOALS, training_run_recommend
from training.services.runs import training_run_cancel, training_run_create, training_run_preflight, training_run_retry


def _number_param(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise ApplicationError(f"{name} must be a number", where=name)
    return int(value)


def _hyperparameters_schema() -> dict:
    """The OpenAPI object of a run's hyperparameters, from their one declaration (training.runner.config)."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    properties = {}
    for spec in hyperparameter_fields():
        meta = spec.metadata
        described = meta["help"] + (f" Recommended: {meta['recommended']}." if meta["recommended"] else "")
        properties[spec.name] = {"type": kinds[spec.type], "default": spec.default, "description": described}
        if meta["minimum"] is not None:
            properties[spec.name] |= {"minimum": meta["minimum"], "maximum": meta["maximum"]}
        if meta.get("choices"):
            properties[spec.name] |= {"enum": list(meta["choices"])}
    return {"type": "object", "properties": properties, "additionalProperties": False}


@extend_schema_field(_hyperparameters_schema(), component_name="Hyperparameters")
class HyperparametersField(serializers.DictField):
    """A run's hyperparameters by name. The service checks names, types and ranges (training.services.hyperparameters),
    so a bad value is answered with the field it concerns."""


class BaseModelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    path = serializers.CharField()
    architecture = serializers.CharField()
    parameter_count = serializers.IntegerField()
    has_chat_template = serializers.BooleanField()
    chat_template_facts = serializers.DictField(
        help_text='what the chat template does: "turn_end" (the token ending an '
        'assistant turn; generation stops there), "eos", and the traps '
        '"drops_system_prompt", "strips_reasoning", "writes_date", '
        '"generation_prefill", "has_generation_markers", "trl_template"'
    )
    warnings = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class BaseModelsApi(APIView):
    """GET lists the base models the user may see; POST registers a model directory on the server by its path."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        path = serializers.CharField(
            max_length=500,
            help_text="a model directory: absolute, under one of the operator's model "
            "roots (WHETSTONE_MODEL_ROOTS), or relative to the workspace's storage",
        )

    OutputSerializer = BaseModelOutputSerializer

    def get(self, request):
        base_models = base_model_list(user=request.user)
        workspace_id = _number_param(request, "workspace")
        if workspace_id is not None:
            base_models = base_models.filter(workspace_id=workspace_id)
        return paginated(self, base_models, self.OutputSerializer)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = access_training_workspace(request.user, data.validated_data["workspace"], capability=LAUNCH)
        base_model = base_model_register(
            workspace=workspace,
            name=data.validated_data["name"],
            path=data.validated_data["path"],
            registered_by=request.user,
        )
        return Response(self.OutputSerializer(base_model).data, status=status.HTTP_201_CREATED)


class TrainingRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    base_model = serializers.IntegerField(source="base_model_id")
    base_model_name = serializers.CharField(source="base_model.name")
    dataset_version = serializers.IntegerField(source="dataset_version_id")
    dataset_version_name = serializers.CharField(source="dataset_version.__str__")
    method = serializers.CharField()
    adapter = serializers.CharField()
    hyperparameters = HyperparametersField()
    status = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    memory_estimate = serializers.DictField(
        help_text='{"parts": {weights, trainable, activations, logits, overhead, total} '
        'in GiB, "device_gib", "device_source", "fits"}'
    )
    memory_override = serializers.BooleanField()
    reward_graders = serializers.ListField(child=serializers.DictField(),
                                           help_text="GRPO: the graders' definitions the run was rewarded by")
    warnings = serializers.ListField(
        child=serializers.DictField(),
        help_text='what TRL and the runner warned about the data: [{"source": "trl" | "whetstone", "message"}]',
    )
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    resume_from_step = serializers.IntegerField(source="resume_from.step", allow_null=True, default=None)
    artifact = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    heartbeat_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()

    def get_artifact(self, run) -> int | None:
        artifact = getattr(run, "artifact", None)
        return artifact.pk if artifact is not None else None


def _run_inputs(request, values: dict):
    """(workspace, base model, dataset version) of a launch or preflight request; the user must hold training.launch."""
    workspace = access_training_workspace(request.user, values["workspace"], capability=LAUNCH)
    # Ids from another workspace resolve to nothing, and the service names the field.
    base_model = BaseModel.objects.filter(workspace=workspace, pk=values["base_model"]).first()
    version = (DatasetVersion.objects.select_related("dataset")
               .filter(dataset__workspace=workspace, pk=values["dataset_version"]).first())
    return workspace, base_model, version


def _graders(workspace, ids: list[int]) -> list:
    """The workspace's graders with these ids; an id outside it is an error naming the field."""
    from graders.selectors import graders_of

    graders = graders_of(workspace=workspace, ids=ids) if workspace is not None else []
    if len(graders) != len(set(ids)):
        raise ApplicationError("unknown grader", where="graders")
    return graders


class TrainingRunsApi(APIView):
    """GET lists runs (?workspace=, ?status=); POST launches one: it is queued and trained by a "gpu" worker."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        name = serializers.CharField(max_length=200)
        base_model = serializers.IntegerField()
        dataset_version = serializers.IntegerField()
        method = serializers.CharField(default=TrainingRun.Method.SFT)
        adapter = serializers.CharField(default=TrainingRun.Adapter.LORA)
        hyperparameters = HyperparametersField(required=False, default=dict)
        override_memory = serializers.BooleanField(
            default=False, help_text="launch even when the memory estimate exceeds the training device"
        )
        probe_prompts = serializers.ListField(
            child=serializers.CharField(allow_blank=True, trim_whitespace=False),
            required=False,
            default=list,
            help_text="prompts answered by the base model before training and by the trained model after it",
        )
        probe_test_count = serializers.IntegerField(default=0, min_value=0,
                                                    help_text="also probe with the first N prompts of the test split")
        graders = serializers.ListField(child=serializers.IntegerField(), required=False, default=list,
                                        help_text="GRPO: ids of the workspace's graders that reward the answers")

    OutputSerializer = TrainingRunOutputSerializer

    def get(self, request):
        runs = training_run_list(user=request.user, status=request.query_params.get("status") or None)
        workspace_id = _number_param(request, "workspace")
        if workspace_id is not None:
            runs = runs.filter(workspace_id=workspace_id)
        return paginated(self, runs, self.OutputSerializer)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace, base_model, version = _run_inputs(request, values)
        run = training_run_create(
            workspace=workspace,
            name=values["name"],
            base_model=base_model,
            dataset_version=version,
            method=values["method"],
            adapter=values["adapter"],
            hyperparameters=values["hyperparameters"],
            override_memory=values["override_memory"],
            created_by=request.user,
            probe_prompts=values["probe_prompts"],
            probe_test_count=values["probe_test_count"],
            graders=_graders(workspace, values["graders"]),
        )
        return Response(
            self.OutputSerializer(access_training_run(request.user, run.pk)).data, status=status.HTTP_201_CREATED
        )


class TrainingRunPreflightApi(APIView):
    """POST the settings of a run to see, without launching it, its memory estimate (with its parts, the training
    device's size and whether it fits) and the preview of its training text: the first examples as segments marked
    "trained", "masked" (read, not learned) or "cut" (past max_length), with their token ids (the very ids the trainer
    gets), token length statistics, how many examples max_length cuts, and the chat template's notes: its end-of-turn
    token and traps, each with the hyperparameter that fixes it and whether this run has it on
    (training.services.preview.training_run_preview). Needs training.launch."""

    class InputSerializer(serializers.Serializer):
        workspace = serializers.IntegerField()
        base_model = serializers.IntegerField()
        dataset_version = serializers.IntegerField()
        method = serializers.CharField(default=TrainingRun.Method.SFT)
        adapter = serializers.CharField(default=TrainingRun.Adapter.LORA)
        hyperparameters = HyperparametersField(required=False, default=dict)

    class OutputSerializer(serializers.Serializer):
        hyperparameters = HyperparametersField()
        memory = serializers.DictField()
        preview = serializers.DictField()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        workspace, base_model, version = _run_inputs(request, values)
        result = training_run_preflight(workspace=workspace, base_model=base_model, dataset_version=version,
                                        method=values["method"], adapter=values["adapter"],
                                        hyperparameters=values["hyperparameters"])
        return Response(self.OutputSerializer(result).data)


class TrainingRunRecommendApi(APIView):
    """GET ?version=&base_model= (and optionally goal=style|knowledge|reasoning, lora_r=, max_length= for settings
    already chosen): the settings recommended from the version's records and token lengths and from the base model
    and the training device, each with its reason, and warnings (training.services.recommendations). Needs
    training.view on the model and data.view on the version."""

    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField()
        base_model = serializers.IntegerField()
        goal = serializers.ChoiceField(choices=GOALS, required=False)
        lora_r = serializers.IntegerField(required=False, min_value=1)
        max_length = serializers.IntegerField(required=False, min_value=1)

    class OutputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            name = serializers.CharField()
            value = serializers.JSONField()
            reason = serializers.CharField()

        goal = serializers.CharField()
        adapter = serializers.CharField()
        hyperparameters = serializers.DictField()
        items = ItemSerializer(many=True)
        warnings = serializers.ListField(child=serializers.CharField())
        facts = serializers.DictField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        base_model = access_base_model(request.user, values["base_model"])
        version = access_version(request.user, values["version"])
        chosen = {name: values[name] for name in ("lora_r", "max_length") if name in values}
        result = training_run_recommend(version=version, base_model=base_model, goal=values.get("goal"),
                                        chosen=chosen)
        return Response(self.OutputSerializer(result).data)


class TrainingRunDetailApi(APIView):
    """One run, with the tail of its log, its recorded checkpoints and its probe set: each prompt with the base
    model's answer (before training) and the trained model's (after), greedy, same settings; null until answered."""

    class OutputSerializer(TrainingRunOutputSerializer):
        class CheckpointSerializer(serializers.Serializer):
            step = serializers.IntegerField()
            path = serializers.CharField()

        class ProbeSerializer(serializers.Serializer):
            prompt = serializers.CharField()
            messages = serializers.ListField(child=serializers.DictField())
            base = serializers.CharField(allow_null=True)
            trained = serializers.CharField(allow_null=True)

        log_tail = serializers.CharField()
        checkpoints = CheckpointSerializer(many=True, source="checkpoints_list")
        probes = ProbeSerializer(many=True)
        probe_error = serializers.CharField()

    def get(self, request, run_id: int):
        run = access_training_run(request.user, run_id)
        run.log_tail = training_run_log_tail(run=run)
        run.checkpoints_list = training_run_checkpoints(run=run)
        return Response(self.OutputSerializer(run).data)


class TrainingRunRetryApi(APIView):
    """Queue a new run with this run's model, data, method and adapter and edited hyperparameters, linked to it as
    its parent. With "resume", it continues from this run's last checkpoint (the run must be cancelled or failed)."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, default="")
        hyperparameters = HyperparametersField(required=False, default=dict, help_text="only the ones to change")
        resume = serializers.BooleanField(default=False)
        override_memory = serializers.BooleanField(default=False)

    OutputSerializer = TrainingRunOutputSerializer

    def post(self, request, run_id: int):
        run = access_training_run(request.user, run_id, capability=LAUNCH)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        new_run = training_run_retry(
            run=run,
            hyperparameters=values["hyperparameters"],
            resume=values["resume"],
            name=values["name"],
            override_memory=values["override_memory"],
            created_by=request.user,
        )
        return Response(
            self.OutputSerializer(access_training_run(request.user, new_run.pk)).data, status=status.HTTP_201_CREATED
        )


class TrainingRunMetricsApi(APIView):
    """The run's metric points after ?after=<id> (oldest first, at most 5000), its status and the chart's series.

    Poll with the last id seen to get only what is new.
    """

    class OutputSerializer(serializers.Serializer):
        class PointSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            step = serializers.IntegerField()
            epoch = serializers.FloatField(allow_null=True)
            values = serializers.DictField()

        status = serializers.CharField()
        progress = serializers.FloatField()
        last_id = serializers.IntegerField()
        points = PointSerializer(many=True)
        series = serializers.DictField()

    def get(self, request, run_id: int):
        run = access_training_run(request.user, run_id)
        after = _number_param(request, "after") or 0
        points = training_run_metric_points(run=run, after_id=after)
        body = {"status": run.status, "progress": run.progress, "last_id": points[-1].pk if points else after,
                "points": points, "series": metric_series(points)}
        return Response(self.OutputSerializer(body).data)


class TrainingRunCancelApi(APIView):
    """Cancel a run: a queued one at once, a running one at its next training step (its adapter so far is kept)."""

    class InputSerializer(serializers.Serializer):
        """No body: the run in the path is the whole request."""

    OutputSerializer = TrainingRunOutputSerializer

    def post(self, request, run_id: int):
        run = access_training_run(request.user, run_id, capability=LAUNCH)
        training_run_cancel(run=run, cancelled_by=request.user)
        return Response(self.OutputSerializer(access_training_run(request.user, run_id)).data)


class ModelArtifactsApi(APIView):
    """GET lists trained models (adapters) with their lineage: run, base model, dataset version."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        workspace = serializers.IntegerField(source="workspace_id")
        name = serializers.CharField()
        kind = serializers.CharField()
        path = serializers.CharField()
        run = serializers.IntegerField(source="run_id", allow_null=True)
        base_model = serializers.IntegerField(source="base_model_id")
        base_model_name = serializers.CharField(source="base_model.name")
        dataset_version = serializers.IntegerField(source="dataset_version_id", allow_null=True)
        is_partial = serializers.BooleanField(help_text="saved by a cancelled run before its planned end")
        source = serializers.IntegerField(
            source="source_id", allow_null=True, help_text="merged: the adapter it was made from"
        )
        created_at = serializers.DateTimeField()

    def get(self, request):
        artifacts = model_artifact_list(user=request.user)
        workspace_id = _number_param(request, "workspace")
        if workspace_id is not None:
            artifacts = artifacts.filter(workspace_id=workspace_id)
        return paginated(self, artifacts, self.OutputSerializer)


class ModelArtifactDownloadApi(APIView):
    """GET the artifact's files (adapter or weights, with the tokenizer) as a zip archive, streamed."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, artifact_id: int):
        artifact = access_model_artifact(request.user, artifact_id)
        response = StreamingHttpResponse(model_artifact_zip_stream(artifact=artifact), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{model_artifact_zip_name(artifact)}"'
        return response


class ModelArtifactMergeApi(APIView):
    """POST queues merging this LoRA adapter into its base model (a "gpu" job); the merged weights appear as a new
    artifact of kind "merged" whose `source` is this one. Needs training.launch."""

    class InputSerializer(serializers.Serializer):
        """No body: the artifact in the path is the whole request."""

    class OutputSerializer(serializers.Serializer):
        artifact = serializers.IntegerField(source="pk")
        status = serializers.CharField(default="queued")

    def post(self, request, artifact_id: int):
        artifact = access_model_artifact(request.user, artifact_id, capability=LAUNCH)
        model_artifact_merge_request(artifact=artifact, requested_by=request.user)
        return Response(self.OutputSerializer(artifact).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunsCompareApi(APIView):
    """GET ?ids=1,2,3: the runs' loss curves (and DPO reward curves) and final metrics side by side; runs the user
    may not see are left out."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="run.pk")
        name = serializers.CharField(source="run.name")
        status = serializers.CharField(source="run.status")
        method = serializers.CharField(source="run.method")
        adapter = serializers.CharField(source="run.adapter")
        hyperparameters = HyperparametersField(source="run.hyperparameters")
        series = serializers.DictField()
        final = serializers.DictField()

    def get(self, request):
        raw = [part for part in (request.query_params.get("ids") or "").split(",") if part.strip()]
        if not raw or not all(part.strip().isdigit() for part in raw):
            raise ApplicationError("ids must be run ids separated by commas", where="ids")
        compared = training_runs_compare(user=request.user, run_ids=[int(part) for part in raw])
        return Response({"runs": self.OutputSerializer(compared, many=True).data})
