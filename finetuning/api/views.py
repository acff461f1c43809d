"""OpenAI's fine-tuning endpoints: /v1/files, /v1/fine_tuning/jobs (+ events, checkpoints, cancel, pause, resume) and
DELETE /v1/models/{id}, in OpenAI's shapes, so a script written for OpenAI runs with only base_url and api_key changed.

Authentication is `Authorization: Bearer <Whetstone API token>`; the workspace comes from the token
(finetuning.access.api_workspace). Errors answer {"error": {"message", "type", "param", "code"}}.
"""

import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.services import api_token_authenticate
from common.errors import ApplicationError
from common.json_limits import MAX_DEPTH, json_too_deep
from finetuning import selectors
from finetuning.access import (
    DATA_EDIT,
    DATA_VIEW,
    LAUNCH,
    VIEW,
    access_fine_tuning_file,
    access_fine_tuning_job,
    api_capability_check,
    api_workspace,
)
from finetuning.services.files import fine_tuning_file_content, fine_tuning_file_create, fine_tuning_file_delete
from finetuning.services.jobs import (
    fine_tuned_model_delete,
    fine_tuning_job_cancel,
    fine_tuning_job_create,
    fine_tuning_job_pause,
    fine_tuning_job_resume,
)

STATUS_OF_CODE = {"not_found": 404, "permission_denied": 403, "workspace_not_found": 404, "invalid_api_key": 401,
                  "method_not_allowed": 405}
LIMIT_MAX = 100


class RequestError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self) -> JsonResponse:
        return JsonResponse(
            {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}},
            status=self.status,
        )


def _from_application_error(error: ApplicationError) -> RequestError:
    where = error.where or ""
    if where.startswith("line "):
        # A training file's problem: the message names the line and the field; the parameter is the file.
        return RequestError(400, f"{where}: {error.message}", param="file", code=error.code)
    param = where or None
    return RequestError(STATUS_OF_CODE.get(error.code, 400), error.message, param=param, code=error.code)


def _endpoint(*methods: str):
    """Bearer authentication, the workspace, the method check and OpenAI's error shape, for one endpoint."""

    def decorate(view):
        def wrapped(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise RequestError(405, f"{request.method} is not allowed here; use {' or '.join(methods)}.",
                                       code="method_not_allowed")
                scheme, _, key = request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not key.strip():
                    raise RequestError(401, "Missing API key: send 'Authorization: Bearer <your Whetstone API token>'.",
                                       code="invalid_api_key")
                token = api_token_authenticate(key=key.strip())
                if token is None or not token.user.is_active:
                    raise RequestError(401, "Incorrect API key provided.", code="invalid_api_key")
                request.api_user = token.user
                request.api_workspace = api_workspace(user=token.user, headers=request.headers)
                return view(request, *args, **kwargs)
            except ApplicationError as error:
                return _from_application_error(error).response()
            except RequestError as error:
                return error.response()

        wrapped.__name__, wrapped.__doc__ = view.__name__, view.__doc__
        return csrf_exempt(wrapped)

    return decorate


def _body(request) -> dict:
    raw = request.body or b"{}"
    if json_too_deep(raw):
        raise RequestError(400, f"The body nests deeper than {MAX_DEPTH} levels, the limit.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"The body is not valid JSON: {error}.") from error
    if not isinstance(body, dict):
        raise RequestError(400, "The body must be a JSON object.")
    return body


def _limit(request, default: int) -> int:
    value = request.GET.get("limit", "")
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= LIMIT_MAX * 100:
        raise RequestError(400, f"limit must be a whole number from 1 to {LIMIT_MAX * 100}", param="limit")
    return int(value)


def _list(data: list, has_more: bool) -> JsonResponse:
    return JsonResponse({"object": "list", "data": data, "has_more": has_more,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})


# ------------------------------------------------------------------------------------------------ files


@_endpoint("GET", "POST")
def files_view(request):
    user, workspace = request.api_user, request.api_workspace
    if request.method == "POST":
        api_capability_check(user=user, workspace=workspace, capability=DATA_EDIT)
        upload = request.FILES.get("file")
        if upload is None:
            raise RequestError(400, "Send the file as multipart form data, in the field 'file'.", param="file")
        file = fine_tuning_file_create(workspace=workspace, filename=upload.name, data=upload.read(),
                                       purpose=request.POST.get("purpose", ""), created_by=user)
        return JsonResponse(selectors.file_object(file))
    api_capability_check(user=user, workspace=workspace, capability=DATA_VIEW)
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise RequestError(400, "order must be 'asc' or 'desc'", param="order")
    objects = [selectors.file_object(file) for file in
               selectors.file_list(workspace=workspace, purpose=request.GET.get("purpose") or None, order=order)]
    data, has_more = selectors.page(objects, after=request.GET.get("after"), limit=_limit(request, 10_000))
    return _list(data, has_more)


@_endpoint("GET", "DELETE")
def file_view(request, file_id: str):
    user, workspace = request.api_user, request.api_workspace
    capability = DATA_EDIT if request.method == "DELETE" else DATA_VIEW
    file = access_fine_tuning_file(user=user, workspace=workspace, file_id=file_id, capability=capability)
    if request.method == "DELETE":
        fine_tuning_file_delete(file=file, deleted_by=user)
        return JsonResponse({"id": file_id, "object": "file", "deleted": True})
    return JsonResponse(selectors.file_object(file))


@_endpoint("GET")
def file_content_view(request, file_id: str):
    file = access_fine_tuning_file(user=request.api_user, workspace=request.api_workspace, file_id=file_id)
    response = HttpResponse(fine_tuning_file_content(file=file), content_type="application/jsonl")
    response["Content-Disposition"] = f'attachment; filename="{file.public_id}.jsonl"'
    return response


# ------------------------------------------------------------------------------------------------ jobs


def _file_param(request, body: dict, name: str, *, required: bool):
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(
                400, f"'{name}' is required: the id of a file uploaded with purpose 'fine-tune'.", param=name
            )
        return None
    if not isinstance(value, str):
        raise RequestError(400, f"'{name}' must be a file id.", param=name)
    try:
        return access_fine_tuning_file(user=request.api_user, workspace=request.api_workspace, file_id=value)
    except ApplicationError as error:
        raise RequestError(404, f"No such File object: {value}", param=name, code="not_found") from error


def _metadata_filter(request) -> dict:
    return {key[len("metadata["):-1]: value for key, value in request.GET.items()
            if key.startswith("metadata[") and key.endswith("]")}


@_endpoint("GET", "POST")
def jobs_view(request):
    user, workspace = request.api_user, request.api_workspace
    if request.method == "POST":
        api_capability_check(user=user, workspace=workspace, capability=LAUNCH)
        body = _body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError(
                400, "'model' is required: a base model of this workspace (GET /v1/models).", param="model"
            )
        job = fine_tuning_job_create(
            workspace=workspace, model=model, training_file=_file_param(request, body, "training_file", required=True),
            validation_file=_file_param(request, body, "validation_file", required=False), suffix=body.get("suffix"),
            seed=body.get("seed"), metadata=body.get("metadata"), method=body.get("method"),
            hyperparameters=body.get("hyperparameters"), created_by=user)
        return JsonResponse(selectors.job_object(job))
    api_capability_check(user=user, workspace=workspace, capability=VIEW)
    jobs = list(selectors.job_list(workspace=workspace, metadata=_metadata_filter(request)))
    objects = [selectors.job_object(job, trained_tokens=False) for job in jobs]
    data, has_more = selectors.page(objects, after=request.GET.get("after"), limit=_limit(request, 20))
    return _list(data, has_more)


@_endpoint("GET")
def job_view(request, job_id: str):
    job = access_fine_tuning_job(user=request.api_user, workspace=request.api_workspace, job_id=job_id)
    return JsonResponse(selectors.job_object(job))


ACTIONS = {"cancel": fine_tuning_job_cancel, "pause": fine_tuning_job_pause, "resume": fine_tuning_job_resume}
ACTOR_ARGUMENT = {"cancel": "cancelled_by", "pause": "paused_by", "resume": "resumed_by"}


@_endpoint("POST")
def job_action_view(request, job_id: str, action: str):
    job = access_fine_tuning_job(
        user=request.api_user, workspace=request.api_workspace, job_id=job_id, capability=LAUNCH
    )
    ACTIONS[action](job=job, **{ACTOR_ARGUMENT[action]: request.api_user})
    job = access_fine_tuning_job(user=request.api_user, workspace=request.api_workspace, job_id=job_id)
    return JsonResponse(selectors.job_object(job))


@_endpoint("GET")
def job_events_view(request, job_id: str):
    job = access_fine_tuning_job(user=request.api_user, workspace=request.api_workspace, job_id=job_id)
    data, has_more = selectors.page(
        selectors.job_events(job=job), after=request.GET.get("after"), limit=_limit(request, 20)
    )
    return _list(data, has_more)


@_endpoint("GET")
def job_checkpoints_view(request, job_id: str):
    job = access_fine_tuning_job(user=request.api_user, workspace=request.api_workspace, job_id=job_id)
    data, has_more = selectors.page(selectors.job_checkpoints(job=job), after=request.GET.get("after"),
                                    limit=_limit(request, 10))
    return _list(data, has_more)


# ------------------------------------------------------------------------------------------------ models


@_endpoint("DELETE")
def model_delete_view(request, model_id: str):
    user, workspace = request.api_user, request.api_workspace
    api_capability_check(user=user, workspace=workspace, capability=LAUNCH)
    job = selectors.fine_tuned_job_for_model(workspace=workspace, model_id=model_id)
    if job is None:
        raise RequestError(
            404,
            f"The model '{model_id}' does not exist or you do not have access to it; only fine-tuned "
            "models (ft:…) can be deleted.",
            param="model",
            code="model_not_found",
        )
    fine_tuned_model_delete(job=job, deleted_by=user)
    return JsonResponse({"id": model_id, "object": "model", "deleted": True})


@csrf_exempt
def model_view(request, model_id: str):
    """GET is the model server's; DELETE deletes a fine-tuned model."""
    if request.method == "DELETE":
        return model_delete_view(request, model_id)
    from training.server.views import model_detail

    return model_detail(request, model_id)
