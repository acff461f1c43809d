"""Dynamic batching for the model server: concurrent requests to one model decode together.

One Batcher per loaded model: a daemon thread takes requests from a queue. When it is idle, the first request waits
for those that follow it closely (each within the window of the one before, four windows at most); they are
left-padded, prefilled together and then decoded step by step, one forward pass per step for the whole batch, with a
shared KV cache. Requests that arrive while a batch decodes join it at the next step (their prompts are prefilled on
their own, then their cache rows are padded on the left to the batch's length and appended); finished rows leave.
Without that, clients that wait for each other's batches fall into two alternating half-batches.

Each request keeps its own max_tokens, stop strings and sampling:
- temperature 0 takes the most likely token: the same tokens as the request alone, since padding is masked out and
  each row's positions count from its own first token;
- above 0 it samples (temperature, then top_p) with a torch.Generator of the request's own, seeded with seed + choice
  when a seed is given, so a seeded reply does not depend on which requests shared its batch.

A request's `reply` future receives its Reply; with `new_tokens` set (streaming) each token id is also put there as it
is decoded, then None.
"""

import logging
import queue
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from training.server.engine import Reply, truncate_at_stop

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class GenerationRequest:
    ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None  # the choice's own: the request's seed + the choice's index
    stop: list[str]
    new_tokens: queue.Queue | None = None  # streaming: token ids as they are decoded, then None
    tokens: list[int] = field(default_factory=list)
    reply: Future = field(default_factory=Future)
    cancelled: bool = False  # set by a streaming reader that went away: the row stops decoding
    generator: object = None  # its torch.Generator when it samples


class Batcher:
    """Decodes the requests of one loaded model (engine.LoadedModel) together, on a thread of its own.

    close() lets the thread end once nothing is left to do (the model left the cache); a later submit starts it again.
    `batch_sizes` keeps the number of rows of the last steps, for tests and for looking at a live server.
    """

    def __init__(self, loaded, *, window_seconds: float, max_batch: int):
        self.loaded = loaded
        self.window_seconds = window_seconds
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._running = False
        self._closed = False

    def submit(self, request: GenerationRequest) -> GenerationRequest:
        with self._lock:
            self._closed = False
            self._queue.put(request)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="whetstone-batcher", daemon=True).start()
        return request

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.put(None)  # wakes an idle thread so that it can end

    def _run(self) -> None:
        decoding = Decoding(self.loaded)
        while True:
            arrivals = self._collect(wait=not decoding.rows) if decoding.joinable else []
            try:
                if arrivals:
                    decoding.admit(arrivals)
                if decoding.rows:
                    self.batch_sizes = [*self.batch_sizes[-99:], len(decoding.rows)]
                    decoding.step()
            except Exception as error:  # every waiting client hears why; the thread goes on serving
                logger.exception("model server: batched generation failed")
                for request in [*decoding.rows, *arrivals]:
                    _fail(request, error)
                decoding = Decoding(self.loaded)
            with self._lock:
                if self._closed and not decoding.rows and self._queue.empty():
                    self._running = False
                    return

    def _collect(self, *, wait: bool) -> list[GenerationRequest]:
        """The requests waiting now (wait=False: a batch is decoding and they join it), or, when idle, the first to
        come and those that follow it closely: each within the window of the one before, for at most four windows in
        all. None entries are wake-ups."""
        room = self.max_batch
        if not wait:
            arrivals = []
            while len(arrivals) < room:
                try:
                    request = self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is not None:
                    arrivals.append(request)
            return arrivals
        first = self._queue.get()
        if first is None:
            return []
        arrivals = [first]
        arrived = time.monotonic()
        last_call = arrived + 4 * self.window_seconds
        while len(arrivals) < room:
            try:
                request = self._queue.get(timeout=max(0.0, min(arrived + self.window_seconds, last_call)
                                                      - time.monotonic()))
            except queue.Empty:
                break
            if request is not None:
                arrivals.append(request)
                arrived = time.monotonic()
        return arrivals


def _fail(request: GenerationRequest, error: Exception) -> None:
    if not request.reply.done():
        request.reply.set_exception(error)
        if request.new_tokens is not None:
            request.new_tokens.put(None)


def _next_token(scores, request: GenerationRequest) -> int:
    """Greedy at temperature 0; otherwise a sample from the smallest set of tokens whose mass reaches top_p."""
    import torch

    if request.generator is None:
        return int(scores.argmax())
    probs = torch.softmax(scores / request.temperature, dim=-1)
    if request.top_p < 1:
        ordered, order = probs.sort(descending=True)
        outside = ordered.cumsum(0) - ordered >= request.top_p  # the mass before this token already reached top_p
        outside[0] = False
        probs = torch.zeros_like(probs).scatter(0, order, ordered.masked_fill(outside, 0))
    return int(torch.multinomial(probs, 1, generator=request.generator))


def _penalise_repeats(scores, request: GenerationRequest, penalty: float) -> None:
    """The generation config's repetition_penalty, as transformers applies it in generate (prompt and reply alike)."""
    import torch

    seen = torch.tensor(request.ids + request.tokens, device=scores.device)
    picked = scores[seen]
    scores.scatter_(0, seen, torch.where(picked < 0, picked * penalty, picked / penalty))


def _finish(loaded, request: GenerationRequest) -> bool:
    """Resolve `request` when its last token ended it (end of turn, a stop string, max_tokens); True if it did."""
    tokenizer = loaded.tokenizer
    ended = request.tokens[-1] in loaded.stop_ids
    if not (ended or request.stop or len(request.tokens) >= request.max_tokens or request.cancelled):
        return False
    text = tokenizer.decode(request.tokens, skip_special_tokens=True)
    text, stopped = truncate_at_stop(text, request.stop)
    if stopped:
        reply = Reply(text, len(tokenizer(text, add_special_tokens=False)["input_ids"]), "stop")
    elif ended or request.cancelled:
        reply = Reply(text, len(request.tokens), "stop")
    elif len(request.tokens) >= request.max_tokens:
        reply = Reply(text, len(request.tokens), "length")
    else:
        return False
    request.reply.set_result(reply)
    if request.new_tokens is not None:
        request.new_tokens.put(None)
    return True


def _left_pad(tensor, length: int):
    """`tensor` ([batch, heads, sequence, dim] or [batch, sequence]) padded with zeros on the left of its sequence."""
    import torch.nn.functional as functional

    missing = length - tensor.shape[-2 if tensor.dim() == 4 else -1]
    if missing <= 0:
        return tensor
    return functional.pad(tensor, (0, 0, missing, 0) if tensor.dim() == 4 else (missing, 0))


class Decoding:
    """The rows decoding together: their requests, KV cache, attention mask (0 over left padding), each row's next
    position and the token each feeds next. Rows join after their prefill and leave when their reply is done."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.rows: list[GenerationRequest] = []
        self.cache = self.mask = self.positions = self.next_ids = None
        self.penalty = getattr(loaded.model.generation_config, "repetition_penalty", None) or 1.0

    def _forward(self, input_ids, mask, positions, cache):
        output = self.loaded.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                   past_key_values=cache, use_cache=True, logits_to_keep=1)
        return output.past_key_values, output.logits[:, -1, :].float()

    @property
    def joinable(self) -> bool:
        """Whether rows can join: each layer's cache is a plain one (a sliding window's keeps only its last keys, so
        padding and trimming it by the mask's columns would be wrong). Otherwise newcomers wait for the batch's end."""
        from transformers.cache_utils import DynamicLayer

        return self.cache is None or all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def _pick(self, rows: list[GenerationRequest], scores) -> None:
        """Each row's next token, recorded, streamed, and the row's reply resolved when it is done."""
        for row, request in enumerate(rows):
            if self.penalty != 1.0:
                _penalise_repeats(scores[row], request, self.penalty)
            token = _next_token(scores[row], request)
            request.tokens.append(token)
            if request.new_tokens is not None:
                request.new_tokens.put(token)
            _finish(self.loaded, request)

    def admit(self, requests: list[GenerationRequest]) -> None:
        """Prefill `requests` together, pick their first tokens and add the rows still going to the batch."""
        import torch

        device = self.loaded.model.device
        pad = self.loaded.tokenizer.pad_token_id if self.loaded.tokenizer.pad_token_id is not None else 0
        for request in requests:
            if request.temperature > 0:
                seed = request.seed if request.seed is not None else secrets.randbits(62)
                request.generator = torch.Generator(device=device).manual_seed(seed)
        longest = max(len(request.ids) for request in requests)
        input_ids = torch.tensor([[pad] * (longest - len(r.ids)) + r.ids for r in requests], device=device)
        mask = torch.tensor([[0] * (longest - len(r.ids)) + [1] * len(r.ids) for r in requests], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            cache, scores = self._forward(input_ids, mask, positions, None)
        self._pick(requests, scores)
        next_ids = torch.tensor([[request.tokens[-1]] for request in requests], device=device)
        self._merge(requests, cache, mask, positions[:, -1:] + 1, next_ids)
        self._drop_finished()

    def _merge(self, requests, cache, mask, positions, next_ids) -> None:
        import torch

        if not self.rows:
            self.rows, self.cache, self.mask, self.positions, self.next_ids = (
                list(requests), cache, mask, positions, next_ids)
            return
        length = max(self.mask.shape[1], mask.shape[1])
        for layer, joining in zip(self.cache.layers, cache.layers, strict=True):
            layer.keys = torch.cat([_left_pad(layer.keys, length), _left_pad(joining.keys, length)])
            layer.values = torch.cat([_left_pad(layer.values, length), _left_pad(joining.values, length)])
        self.mask = torch.cat([_left_pad(self.mask, length), _left_pad(mask, length)])
        self.positions = torch.cat([self.positions, positions])
        self.next_ids = torch.cat([self.next_ids, next_ids])
        self.rows.extend(requests)

    def _drop_finished(self) -> None:
        """Remove the rows whose reply is done, and the columns that are padding in every row left."""
        import torch

        keep = [row for row, request in enumerate(self.rows) if not request.reply.done()]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[row] for row in keep]
        if not keep:
            self.cache = self.mask = self.positions = self.next_ids = None
            return
        index = torch.tensor(keep, device=self.mask.device)
        self.mask, self.positions, self.next_ids = self.mask[index], self.positions[index], self.next_ids[index]
        if not self.joinable:
            self.cache.batch_select_indices(index)
            return
        start = int((self.mask.cumsum(1) == 0).sum(1).min())
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys[index, :, start:]
            layer.values = layer.values[index, :, start:]

    def step(self) -> None:
        """One forward pass for every row: each gets its next token; the rows that finished leave."""
        import torch

        self.mask = torch.cat([self.mask, torch.ones_like(self.next_ids)], dim=1)
        with torch.no_grad():
            self.cache, scores = self._forward(self.next_ids, self.mask, self.positions, self.cache)
        self._pick(self.rows, scores)
        self.positions = self.positions + 1
        self.next_ids = torch.tensor([[request.tokens[-1]] for request in self.rows], device=self.mask.device)
        self._drop_finished()
