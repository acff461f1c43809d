"""What the scorecard job measures itself, through the built-in model server's engine (training.server.engine: the
same loading, chat template and generation as POST /v1/chat/completions): decoding speed of the candidate against
its base on a few greedy prompts, and whether the candidate and its merged export load and answer.

Base and candidate take turns prompt by prompt, so a change in the machine's load falls on both alike; each model
answers one prompt first, untimed, so loading and the first call's warm-up are not counted.
"""

import time
from dataclasses import dataclass

from common.text_similarity import percentile
from training.server import engine
from training.server.registry import served_directories

SPEED_PROMPTS = [
    [{"role": "user", "content": "Where is my package? It has not arrived yet."}],
    [{"role": "user", "content": "How do I return a product I do not want?"}],
    [{"role": "user", "content": "我想修改收货地址，可以吗？"}],
    [{"role": "user", "content": "Can you explain the difference between the two plans?"}],
]
SPEED_MAX_TOKENS = 32
ANSWER_CHECK_PROMPT = [{"role": "user", "content": "Hello! Can you help me with my order?"}]


def _loaded(model):
    base_dir, adapter_dir = served_directories(model)
    return engine.model_get(base_dir=base_dir, adapter_dir=adapter_dir)


def _reply(loaded, messages: list[dict], max_tokens: int):
    ids = engine.prompt_ids(loaded, messages)
    return engine.generate_choices(loaded, n=1, ids=ids, max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0,
                                   stop=[])[0]


@dataclass(frozen=True)
class SpeedFigures:
    tokens_per_s: float
    p95_ms: float
    requests: int
    completion_tokens: int

    def as_dict(self) -> dict:
        return {"tokens_per_s": self.tokens_per_s, "p95_ms": self.p95_ms, "requests": self.requests,
                "completion_tokens": self.completion_tokens}


def speed_measure(*, candidate, baseline, prompts=SPEED_PROMPTS,
                  max_tokens: int = SPEED_MAX_TOKENS) -> tuple[SpeedFigures, SpeedFigures]:
    """(candidate, baseline) figures: tokens per second over all replies, and the p95 of one reply's latency.
    Raises engine.ModelLoadError when a model does not load."""
    models = {"candidate": _loaded(candidate), "baseline": _loaded(baseline)}
    for loaded in models.values():
        _reply(loaded, prompts[0], 2)
    latencies = {key: [] for key in models}
    tokens = {key: 0 for key in models}
    for messages in prompts:
        for key, loaded in models.items():
            started = time.perf_counter()
            reply = _reply(loaded, messages, max_tokens)
            latencies[key].append(time.perf_counter() - started)
            tokens[key] += reply.completion_tokens
    figures = {
        key: SpeedFigures(tokens_per_s=tokens[key] / sum(latencies[key]) if sum(latencies[key]) > 0 else 0.0,
                          p95_ms=percentile(sorted(latencies[key]), 0.95) * 1000, requests=len(prompts),
                          completion_tokens=tokens[key])
        for key in models
    }
    return figures["candidate"], figures["baseline"]


def answers_check(model) -> tuple[bool, str]:
    """Whether `model` loads through the server's engine and answers one greedy prompt (at least one token); and the
    reply (or the reason it did not)."""
    try:
        reply = _reply(_loaded(model), ANSWER_CHECK_PROMPT, 16)
    except Exception as error:  # a broken export fails in many ways (missing files, bad config, template errors)
        return False, f"{type(error).__name__}: {error}"[:500]
    return reply.completion_tokens > 0, reply.text[:500]
