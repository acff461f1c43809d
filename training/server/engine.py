"""Loading models for the server (lazily, a bounded LRU cache) and generating chat replies with them.

Models load through training.services.generation.model_load, so the server sees exactly what evaluation sees.
At most WHETSTONE_SERVER_MAX_MODELS (environment, default 2) stay in memory; the least recently used one goes first.
A model that fails to load is remembered with its reason: later requests get the same reason at once instead of
paying for another failed load, and the server keeps serving everything else.

Generation is batched (training.server.batching): one batcher per loaded model decodes together the requests that
arrive within WHETSTONE_SERVER_BATCH_WINDOW_MS (default 5) of each other, at most WHETSTONE_SERVER_MAX_BATCH (default
16) at once. WHETSTONE_SERVER_BATCHING=off serves one request at a time instead, with transformers' own generate
behind one process-wide lock (torch's global random generator is what seeds its samples, so two seeded requests must
not run at once); the benchmark compares the two.
"""

import logging
import os
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_cache: OrderedDict = OrderedDict()
_failures: dict[tuple, str] = {}
_load_lock = threading.Lock()
generation_lock = threading.Lock()


class ModelLoadError(Exception):
    """The model's files could not be loaded; the message says why."""


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    context_length: int
    stop_ids: list[int]
    batcher: object = None  # a batching.Batcher, unless batching is off

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def max_models() -> int:
    try:
        return max(1, int(os.environ.get("WHETSTONE_SERVER_MAX_MODELS", "2")))
    except ValueError:
        return 2


def batching_settings() -> tuple[bool, float, int]:
    """(batching on, window in seconds, largest batch), from the environment (serve_models sets it from its options)."""
    enabled = os.environ.get("WHETSTONE_SERVER_BATCHING", "on").lower() not in ("off", "0", "false")
    try:
        window_ms = min(1000.0, max(0.0, float(os.environ.get("WHETSTONE_SERVER_BATCH_WINDOW_MS", "5"))))
    except ValueError:
        window_ms = 5.0
    try:
        largest = max(1, int(os.environ.get("WHETSTONE_SERVER_MAX_BATCH", "16")))
    except ValueError:
        largest = 16
    return enabled, window_ms / 1000, largest


def model_get(*, base_dir: Path, adapter_dir: Path | None) -> LoadedModel:
    """The loaded model for these directories, loading it on first use. Raises ModelLoadError (also for a model that
    failed before: the failure is cached)."""
    key = (str(base_dir), str(adapter_dir) if adapter_dir else None)
    with _load_lock:
        if key in _failures:
            raise ModelLoadError(_failures[key])
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        try:
            loaded = _load(base_dir, adapter_dir)
        except Exception as error:  # transformers and peft raise OSError, ValueError, KeyError, RuntimeError ...
            reason = f"cannot load {base_dir}" + (f" with adapter {adapter_dir}" if adapter_dir else "") + f": {error}"
            _failures[key] = reason
            logger.error("model server: %s", reason)
            raise ModelLoadError(reason) from error
        enabled, window_seconds, largest = batching_settings()
        if enabled:
            from training.server.batching import Batcher

            loaded.batcher = Batcher(loaded, window_seconds=window_seconds, max_batch=largest)
        _cache[key] = loaded
        while len(_cache) > max_models():
            _evict(_cache.popitem(last=False)[1])
        return loaded


def _evict(loaded: LoadedModel) -> None:
    if loaded.batcher is not None:
        loaded.batcher.close()


def cache_clear() -> None:
    """Forget loaded models and remembered failures (tests, and after replacing a model's files)."""
    with _load_lock:
        for loaded in _cache.values():
            _evict(loaded)
        _cache.clear()
        _failures.clear()


def cached_keys() -> list[tuple]:
    with _load_lock:
        return list(_cache)


def _load(base_dir: Path, adapter_dir: Path | None) -> LoadedModel:
    from training.services.generation import model_load

    if not Path(base_dir).is_dir():
        raise FileNotFoundError(f"no model directory at {base_dir}")
    model, tokenizer = model_load(base_dir=Path(base_dir), adapter_dir=Path(adapter_dir) if adapter_dir else None)
    from training.runner.templates import stop_token_ids

    # Every eos id of the generation config (an int or a list), the tokenizer's, and the template's end-of-turn token.
    stop_ids = stop_token_ids(tokenizer, model.generation_config)
    context = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    return LoadedModel(model=model, tokenizer=tokenizer, context_length=int(context), stop_ids=stop_ids)


def prompt_ids(loaded: LoadedModel, messages: list[dict]) -> list[int]:
    """The conversation in the model's own chat template, with the generation prompt, as token ids."""
    text = loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already wrote every special token; adding a BOS again would change what the model sees.
    return loaded.tokenizer(text, add_special_tokens=False)["input_ids"]


def _sampling(*, temperature: float, top_p: float) -> dict:
    if temperature <= 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}


def _seed(seed: int | None, choice: int) -> None:
    import torch

    torch.manual_seed(seed + choice if seed is not None else random.randrange(2**31))


def truncate_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """`text` cut before the earliest stop string, and whether one was found."""
    cut = min((index for index in (text.find(word) for word in stop) if index >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@dataclass
class Reply:
    text: str
    completion_tokens: int
    finish_reason: str


def generate_choices(loaded: LoadedModel, *, n: int = 1, ids: list[int], max_tokens: int, temperature: float,
                     top_p: float, seed: int | None, stop: list[str]) -> list[Reply]:
    """`n` replies to one prompt (choice i seeded with seed + i). finish_reason is "stop" (end of turn or a stop
    string) or "length" (max_tokens reached). Batched, the n choices decode together with whatever else arrived."""
    settings = {"ids": ids, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "stop": stop}
    if loaded.batcher is None:
        return [_generate_alone(loaded, seed=seed, choice=choice, **settings) for choice in range(n)]
    from training.server.batching import GenerationRequest

    requests = [loaded.batcher.submit(GenerationRequest(seed=_choice_seed(seed, choice), **settings))
                for choice in range(n)]
    return [request.reply.result() for request in requests]


def _choice_seed(seed: int | None, choice: int) -> int | None:
    return seed + choice if seed is not None else None


def _generate_alone(loaded: LoadedModel, *, ids: list[int], max_tokens: int, temperature: float, top_p: float,
                    seed: int | None, stop: list[str], choice: int = 0) -> Reply:
    """One reply with transformers' generate, behind the process-wide lock (batching off)."""
    import torch

    with generation_lock, torch.no_grad():
        _seed(seed, choice)
        inputs = torch.tensor([ids], device=loaded.model.device)
        output = loaded.model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_tokens,
            eos_token_id=loaded.stop_ids or None,
            pad_token_id=loaded.tokenizer.pad_token_id,
            **_sampling(temperature=temperature, top_p=top_p),
        )
    new_tokens = output[0, len(ids):].tolist()
    ended = bool(new_tokens) and new_tokens[-1] in loaded.stop_ids
    text = loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
    text, stopped = truncate_at_stop(text, stop)
    if stopped:
        return Reply(text, len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"]), "stop")
    return Reply(text, len(new_tokens), "stop" if ended or len(new_tokens) < max_tokens else "length")


def generate_stream(loaded: LoadedModel, *, ids: list[int], max_tokens: int, temperature: float, top_p: float,
                    seed: int | None, stop: list[str], choice: int = 0):
    """Yield text pieces as they are decoded, then finally a Reply (the whole text, tokens and finish reason).

    Pieces that might be the start of a stop string are held back until it is clear they are not.
    """
    settings = {"ids": ids, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "stop": stop}
    if loaded.batcher is None:
        yield from _generate_stream_alone(loaded, seed=seed, choice=choice, **settings)
        return
    import queue

    from training.server.batching import GenerationRequest

    request = loaded.batcher.submit(
        GenerationRequest(seed=_choice_seed(seed, choice), new_tokens=queue.Queue(), **settings)
    )
    tokens, sent = [], 0
    hold = max((len(word) for word in stop), default=1) - 1
    try:
        while (token := request.new_tokens.get()) is not None:
            tokens.append(token)
            text = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
            cut_text, stopped = truncate_at_stop(text, stop)
            # A trailing U+FFFD is a character whose bytes are not all decoded yet.
            safe = len(cut_text) if stopped else max(sent, len(text.rstrip("\ufffd")) - hold)
            if safe > sent:
                yield cut_text[sent:safe]
                sent = safe
        reply = request.reply.result()
    finally:
        request.cancelled = True  # a reader that stopped early frees its row; after the end this changes nothing
    if len(reply.text) > sent:
        yield reply.text[sent:]
    yield reply


def _generate_stream_alone(loaded: LoadedModel, *, ids: list[int], max_tokens: int, temperature: float,
                           top_p: float, seed: int | None, stop: list[str], choice: int = 0):
    """generate_stream with transformers' generate in its own thread, behind the process-wide lock (batching off)."""
    import torch
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
    produced: dict = {}

    def run():
        try:
            with generation_lock, torch.no_grad():
                _seed(seed, choice)
                inputs = torch.tensor([ids], device=loaded.model.device)
                output = loaded.model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                               max_new_tokens=max_tokens, eos_token_id=loaded.stop_ids or None,
                                               pad_token_id=loaded.tokenizer.pad_token_id, streamer=streamer,
                                               **_sampling(temperature=temperature, top_p=top_p))
            produced["tokens"] = output[0, len(ids):].tolist()
        except Exception as error:  # surfaced to the reader below; the streamer must still be closed
            produced["error"] = error
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    text, sent = "", 0
    hold = max((len(word) for word in stop), default=1) - 1
    stopped = False
    for piece in streamer:
        if stopped:
            continue  # drain, so the generating thread can finish
        text += piece
        cut_text, stopped = truncate_at_stop(text, stop)
        safe = len(cut_text) if stopped else max(sent, len(text) - hold)
        if safe > sent:
            yield cut_text[sent:safe] if stopped else text[sent:safe]
            sent = safe
        if stopped:
            text = cut_text
    worker.join()
    if "error" in produced:
        raise produced["error"]
    if not stopped and len(text) > sent:
        yield text[sent:]
    new_tokens = produced.get("tokens", [])
    if stopped:
        yield Reply(text, len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"]), "stop")
        return
    ended = bool(new_tokens) and new_tokens[-1] in loaded.stop_ids
    yield Reply(text, len(new_tokens), "stop" if ended or len(new_tokens) < max_tokens else "length")
