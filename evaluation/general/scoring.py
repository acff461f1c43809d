"""Log-likelihood scoring of multiple-choice options, as lm-evaluation-harness's HFLM computes it, batched.

Django-free. What is computed is exactly lm-eval's `loglikelihood` for a causal model:

- tokens: trailing whitespace of the context moves to the continuation; the context is encoded alone and the
  continuation is what encoding context + continuation adds after it (`_encode_pair`), with the tokenizer's default
  special tokens unless the text already starts with the BOS text (`tok_encode`);
- a request longer than the model's context (max_length + 1 tokens) is cut from the left, like lm-eval does;
- the score of an option is the sum of the log-softmax (float32 on the CPU) of its continuation tokens.

How it is computed is where it differs (and why it is faster):

- the items of a group (one subject: the same description and k shots) share a long token prefix; it goes through
  the model once and its key/value cache is reused by every item of the group;
- options whose continuations differ only in the last token (" A" … " D" are one token each in most tokenizers)
  share one row: one forward pass scores all four; longer continuations get a row each (the general case);
- rows are batched (right-padded, which a causal model never attends to) and only the positions that are scored
  go through the output head, instead of the whole vocabulary at every position.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass

TOKENIZER_INFINITY = 1000000000000000019884624838656
DEFAULT_MAX_LENGTH = 2048


@dataclass(frozen=True)
class ScoreRequest:
    """One question: its context, the options' continuations, and the group whose prefix it shares."""

    context: str
    continuations: tuple[str, ...]
    group: str = ""


def max_length_of(model, tokenizer) -> int:
    """The context length lm-eval's HFLM assumes (models.utils.resolve_max_length)."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit != TOKENIZER_INFINITY:
        return int(limit)
    return DEFAULT_MAX_LENGTH


def _tok_encode(tokenizer, text: str) -> list[int]:
    prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    prefix_text = tokenizer.decode(prefix_id) if prefix_id is not None else None
    if prefix_text and text.startswith(prefix_text):
        return tokenizer.encode(text, add_special_tokens=False)
    return tokenizer.encode(text)


def encode_pair(
    tokenizer, context: str, continuation: str, *, cache: dict | None = None
) -> tuple[list[int], list[int]]:
    """lm-eval's `_encode_pair`; `cache` (context text → ids) saves encoding one context once per option."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        continuation = context[-spaces:] + continuation
        context = context[:-spaces]
    whole = _tok_encode(tokenizer, context + continuation)
    context_ids = cache.get(context) if cache is not None else None
    if context_ids is None:
        context_ids = _tok_encode(tokenizer, context)
        if cache is not None:
            cache[context] = context_ids
    return context_ids, whole[len(context_ids):]


@dataclass
class _Row:
    tokens: list[int]          # what goes into the model after the shared prefix
    targets: list[tuple[int, int, list[int], int]]  # (request, option, continuation ids, first scored position)


def _is_prompt_learning(model) -> bool:
    config = getattr(model, "peft_config", None)
    if not config:
        return False
    return any(getattr(c, "is_prompt_learning", False) for c in config.values())


def _common_prefix(sequences: list[list[int]]) -> int:
    if not sequences:
        return 0
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for other in sequences[1:]:
        i = 0
        while i < length and other[i] == first[i]:
            i += 1
        length = i
    return length


def loglikelihoods(model, tokenizer, requests: list[ScoreRequest], *, batch_size: int = 8,
                   progress: Callable[[int, int], None] | None = None) -> list[list[float]]:
    """Each request's options' log-likelihoods, in order. The model is in eval mode on its device."""
    import torch

    max_length = max_length_of(model, tokenizer)
    prompt_learning = _is_prompt_learning(model)
    results: list[list[float]] = [[0.0] * len(r.continuations) for r in requests]
    groups: dict[str, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.group, []).append(index)
    done = 0
    for members in groups.values():
        contexts_seen: dict[str, list[int]] = {}
        encoded = {
            i: [encode_pair(tokenizer, requests[i].context, c, cache=contexts_seen) for c in requests[i].continuations]
            for i in members
        }
        fitting = [i for i in members if all(len(ctx) + len(cont) <= max_length + 1 for ctx, cont in encoded[i])]
        fitting_set = set(fitting)
        truncated = [i for i in members if i not in fitting_set]
        prefix_len = 0
        if len(fitting) > 1 and not prompt_learning:
            contexts = [encoded[i][0][0] for i in fitting]
            prefix_len = max(0, min(_common_prefix(contexts), min(len(c) for c in contexts) - 1))
        prefix = encoded[fitting[0]][0][0][:prefix_len] if prefix_len else []
        rows, cut = [], []
        for i in fitting:
            by_stem: dict[tuple, _Row] = {}
            for option, (ctx, cont) in enumerate(encoded[i]):
                stem = tuple(cont[:-1])
                row = by_stem.get(stem)
                if row is None:
                    row = by_stem[stem] = _Row(tokens=(ctx + cont[:-1])[prefix_len:], targets=[])
                row.targets.append((i, option, cont, len(ctx) - 1 - prefix_len))
            rows.extend(by_stem.values())
        for i in truncated:
            # Cut from the left as lm-eval cuts; options whose cut inputs are the same tokens (one-token options)
            # still share one row.
            by_tokens: dict[tuple, _Row] = {}
            for option, (ctx, cont) in enumerate(encoded[i]):
                tokens = (ctx + cont)[-(max_length + 1):][:-1]
                row = by_tokens.get(tuple(tokens))
                if row is None:
                    row = by_tokens[tuple(tokens)] = _Row(tokens=tokens, targets=[])
                row.targets.append((i, option, cont, len(tokens) - len(cont)))
            cut.extend(by_tokens.values())
        cache = None
        if prefix:
            with torch.no_grad():
                cache = model(input_ids=torch.tensor([prefix], device=model.device), use_cache=True,
                              logits_to_keep=1).past_key_values
        for batch_rows, use_prefix in ((rows, bool(prefix)), (cut, False)):
            batch_rows = sorted(batch_rows, key=lambda row: -len(row.tokens))
            for start in range(0, len(batch_rows), batch_size):
                chunk = batch_rows[start:start + batch_size]
                _score_chunk(model, chunk, cache if use_prefix else None, results, prompt_learning)
        done += len(members)
        if progress is not None:
            progress(done, len(requests))
    return results


def _score_chunk(model, chunk: list[_Row], cache, results, prompt_learning: bool) -> None:
    import torch
    import torch.nn.functional as F

    width = max(len(row.tokens) for row in chunk)
    batch = torch.zeros((len(chunk), width), dtype=torch.long)
    for r, row in enumerate(chunk):
        batch[r, : len(row.tokens)] = torch.tensor(row.tokens, dtype=torch.long)
    wanted = sorted({first + j for row in chunk for (_, _, cont, first) in row.targets for j in range(len(cont))})
    kwargs = {}
    if cache is not None:
        cache = copy.deepcopy(cache)
        if len(chunk) > 1:
            cache.batch_repeat_interleave(len(chunk))
        kwargs["past_key_values"] = cache
        kwargs["use_cache"] = True
    if not prompt_learning:
        kwargs["logits_to_keep"] = torch.tensor(wanted, dtype=torch.long)
    trimmed = "logits_to_keep" in kwargs
    with torch.no_grad():
        try:
            logits = model(input_ids=batch.to(model.device), **kwargs).logits
        except TypeError:  # an architecture without logits_to_keep: every position, then the wanted ones
            if not trimmed:
                raise
            kwargs.pop("logits_to_keep")
            trimmed = False
            logits = model(input_ids=batch.to(model.device), **kwargs).logits
    if not trimmed:  # prompt learning puts virtual tokens first: keep the last `width` positions, then the wanted ones
        logits = logits[:, -width:, :][:, wanted, :]
    log_probs = F.log_softmax(logits.float(), dim=-1)
    column = {position: k for k, position in enumerate(wanted)}
    for r, row in enumerate(chunk):
        for request, option, cont, first in row.targets:
            picked = log_probs[r, [column[first + j] for j in range(len(cont))], :]
            total = float(picked.gather(1, torch.tensor(cont, device=picked.device).unsqueeze(1)).sum())
            results[request][option] = total
