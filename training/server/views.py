"""The OpenAI-compatible model server: GET /v1/models, GET /v1/models/<id>, POST /v1/chat/completions.

Authentication is `Authorization: Bearer <token>` with the user's Whetstone API token. Errors answer the OpenAI error
body {"error": {"message", "type", "param", "code"}}: 401 for a missing or wrong token, 404 for a model the user
cannot call, 400 for a malformed request or a context longer than the model allows, 500 for a model that fails to load.
Model ids are described in training.server.registry.
"""

import json
import time

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.services import api_token_authenticate
from common.json_limits import MAX_DEPTH, json_too_deep
from releases.serving import served_model_for_request
from training.server import engine
from training.server.registry import served_model_get, served_model_list

ROLES = {"system", "developer", "user", "assistant", "tool"}
MAX_CHOICES = 8
MAX_STOP = 4
DEFAULT_MAX_TOKENS = 256


class RequestError(Exception):
    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def response(self) -> JsonResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JsonResponse(body, status=self.status)


def _user_from(request):
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise RequestError(401, "Missing API key: send 'Authorization: Bearer <your Whetstone API token>'.",
                           code="invalid_api_key")
    token = api_token_authenticate(key=key.strip())
    if token is None or not token.user.is_active:
        raise RequestError(401, "Incorrect API key provided.", code="invalid_api_key")
    return token.user


def _model_object(served) -> dict:
    return {"id": served.id, "object": "model", "created": served.created, "owned_by": served.owned_by}


def _errors_as_json(view):
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except RequestError as error:
            return error.response()

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(wrapped)


@_errors_as_json
def models_list(request):
    if request.method != "GET":
        raise RequestError(405, f"{request.method} is not allowed here; use GET.", code="method_not_allowed")
    user = _user_from(request)
    return JsonResponse({"object": "list", "data": [_model_object(served) for served in served_model_list(user=user)]})


@_errors_as_json
def model_detail(request, model_id: str):
    if request.method != "GET":
        raise RequestError(405, f"{request.method} is not allowed here; use GET.", code="method_not_allowed")
    served = served_model_get(user=_user_from(request), model_id=model_id)
    if served is None:
        raise _unknown_model(model_id)
    return JsonResponse(_model_object(served))


def _unknown_model(model_id: str) -> RequestError:
    return RequestError(404, f"The model '{model_id}' does not exist or you do not have access to it.", param="model",
                        code="model_not_found")


# ---------------------------------------------------------------------------------------------------------------
# Request validation


def _number(body: dict, name: str, default, *, low: float, high: float, integer: bool = False):
    value = body.get(name)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise RequestError(400, f"'{name}' must be {'an integer' if integer else 'a number'}.", param=name)
    if not low <= value <= high:
        raise RequestError(400, f"'{name}' must be between {low:g} and {high:g}; got {value}.", param=name)
    return value


def _content_text(content, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                raise RequestError(400, f"messages[{index}].content: only text parts are supported.",
                                   param=f"messages[{index}].content")
            parts.append(part["text"])
        return "".join(parts)
    if content is None:
        return ""
    raise RequestError(400, f"messages[{index}].content must be a string or a list of text parts.",
                       param=f"messages[{index}].content")


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty array of {role, content} objects.", param="messages")
    clean = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(
                400, f"messages[{index}] must be an object with 'role' and 'content'.", param=f"messages[{index}]"
            )
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(400, f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}; got {role!r}.",
                               param=f"messages[{index}].role")
        if "content" not in message:
            raise RequestError(400, f"messages[{index}] has no 'content'.", param=f"messages[{index}].content")
        # "developer" is the newer name of "system"; chat templates only know the latter.
        clean.append(
            {"role": "system" if role == "developer" else role, "content": _content_text(message["content"], index)}
        )
    return clean


def _stop(body: dict) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(word, str) and word for word in stop) or len(stop) > MAX_STOP:
        raise RequestError(
            400, f"'stop' must be a non-empty string or an array of up to {MAX_STOP} of them.", param="stop"
        )
    return stop


def _parse(request) -> dict:
    raw = request.body or b"null"
    if json_too_deep(raw):
        raise RequestError(400, f"The body nests deeper than {MAX_DEPTH} levels, the limit.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"The body is not valid JSON: {error}.") from error
    if not isinstance(body, dict):
        raise RequestError(400, "The body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' is required: one of the ids GET /v1/models lists.", param="model")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError(400, "'stream_options' must be an object.", param="stream_options")
    return {
        "model": model,
        "messages": _messages(body),
        "max_tokens": _number({"max_tokens": max_tokens}, "max_tokens", None, low=1, high=1_000_000, integer=True),
        "temperature": float(_number(body, "temperature", 1.0, low=0, high=2)),
        "top_p": float(_number(body, "top_p", 1.0, low=0, high=1)),
        "n": _number(body, "n", 1, low=1, high=MAX_CHOICES, integer=True),
        "seed": _number(body, "seed", None, low=-(2**63), high=2**63 - 1, integer=True),
        "stop": _stop(body),
        "stream": stream,
        "include_usage": bool(options.get("include_usage")),
        "user": body.get("user") if isinstance(body.get("user"), str) else "",
    }


# ---------------------------------------------------------------------------------------------------------------
# Chat completions


@_errors_as_json
def chat_completions(request):
    if request.method != "POST":
        raise RequestError(405, f"{request.method} is not allowed here; use POST.", code="method_not_allowed")
    user = _user_from(request)
    params = _parse(request)
    # A model id, or a deployment slot's name: the slot picks the model per end user and records the reply's author.
    served, reply_id = served_model_for_request(user=user, model=params["model"], end_user=params["user"])
    if served is None:
        raise _unknown_model(params["model"])
    try:
        loaded = engine.model_get(base_dir=served.base_dir, adapter_dir=served.adapter_dir)
    except engine.ModelLoadError as error:
        raise RequestError(500, f"The model '{served.id}' failed to load: {error}", kind="server_error",
                           param="model", code="model_load_failed") from error
    if not loaded.has_chat_template:
        raise RequestError(400, f"The model '{served.id}' has no chat template, so it cannot take chat messages.",
                           param="model", code="no_chat_template")
    try:
        ids = engine.prompt_ids(loaded, params["messages"])
    except Exception as error:  # templates raise on conversations they reject (e.g. roles out of order)
        raise RequestError(
            400, f"The model's chat template rejected these messages: {error}", param="messages"
        ) from error
    room = loaded.context_length - len(ids)
    max_tokens = params["max_tokens"] if params["max_tokens"] is not None else min(DEFAULT_MAX_TOKENS, max(room, 0))
    if len(ids) + max_tokens > loaded.context_length or max_tokens < 1:
        raise RequestError(
            400,
            f"This model's maximum context length is {loaded.context_length} tokens. However, you "
            f"requested {len(ids) + max_tokens} tokens ({len(ids)} in the messages, {max_tokens} in "
            f"the completion). Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        )
    settings = {"ids": ids, "max_tokens": max_tokens, "temperature": params["temperature"], "top_p": params["top_p"],
                "seed": params["seed"], "stop": params["stop"]}
    meta = {"id": reply_id, "created": int(time.time()), "model": served.id}
    if params["stream"]:
        response = StreamingHttpResponse(_events(loaded, settings, meta, params["n"], params["include_usage"]),
                                         content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    replies = engine.generate_choices(loaded, n=params["n"], **settings)
    completion = sum(reply.completion_tokens for reply in replies)
    return JsonResponse({
        **meta,
        "object": "chat.completion",
        "choices": [{"index": choice, "message": {"role": "assistant", "content": reply.text}, "logprobs": None,
                     "finish_reason": reply.finish_reason} for choice, reply in enumerate(replies)],
        "usage": {"prompt_tokens": len(ids), "completion_tokens": completion, "total_tokens": len(ids) + completion},
        "system_fingerprint": None,
    })


def _event(data) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


def _events(loaded, settings: dict, meta: dict, n: int, include_usage: bool):
    """Server-sent events as the OpenAI API sends them: a role delta, content deltas, a finish chunk per choice,
    optionally a usage chunk with no choices, then [DONE]. Touches no database (it runs after the view returned)."""
    chunk = {**meta, "object": "chat.completion.chunk", "system_fingerprint": None}
    completion = 0
    for choice in range(n):
        yield _event(
            {
                **chunk,
                "choices": [
                    {
                        "index": choice,
                        "delta": {"role": "assistant", "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
        )
        try:
            for piece in engine.generate_stream(loaded, choice=choice, **settings):
                if isinstance(piece, engine.Reply):
                    completion += piece.completion_tokens
                    yield _event({**chunk, "choices": [{"index": choice, "delta": {}, "logprobs": None,
                                                        "finish_reason": piece.finish_reason}]})
                else:
                    yield _event({**chunk, "choices": [{"index": choice, "delta": {"content": piece}, "logprobs": None,
                                                        "finish_reason": None}]})
        except Exception as error:  # headers are sent already: report in-band, as the OpenAI API does
            yield _event({"error": {"message": f"generation failed: {error}", "type": "server_error", "param": None,
                                    "code": "generation_failed"}})
            return
    if include_usage:
        prompt = len(settings["ids"])
        yield _event({**chunk, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                                        "total_tokens": prompt + completion}})
    yield b"data: [DONE]\n\n"


@csrf_exempt
def not_found(request, rest: str = ""):
    """Unknown paths under /v1/ answer in the OpenAI error shape, not with an HTML page."""
    return RequestError(404, f"Unknown endpoint /v1/{rest}.", code="unknown_url").response()

