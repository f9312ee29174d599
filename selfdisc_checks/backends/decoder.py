"""The continuous-batching decoder behind the transformers backend: KV-cache prefill, decoding that keeps the
batch full (waiting prompts join as rows finish), halving a batch that does not fit, and label scoring.

Decoder-only models process each prompt once: a prefill pass over all but its last token fills a KV cache,
which is copied to the prompt's N candidate rows before decoding continues from the last token. Every step
computes only the last position's logits, finished rows leave the batch, and the cache's plain layers grow in
place (``cache_capacity``) instead of being concatenated at every step. Encoder-decoder models run the encoder
once per prompt and share its output the same way, through transformers' ``generate``.

``Decoder`` holds the decoding; loading (checkpoint -> model and tokenizer) is ``hf.HFBackend``'s, which
inherits from it and provides the attributes it reads (``model``, ``tokenizer``, ``config``, ...).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

import torch

from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Completion, DecodeSpec, Sampling


class Decoder:
    """Batched decoding and label scoring over a loaded model; see the module docstring."""

    # Provided by the class that loads the model (hf.HFBackend).
    checkpoint: Any  # .model_id names the model in messages
    device: str
    dtype: torch.dtype
    memory_budget: float | None
    listener: Any
    counters: dict[str, int]

    # The loader's model, tokenizer and configuration, and what they say.
    model: Any
    tokenizer: Any
    config: Any

    @property
    def is_encoder_decoder(self) -> bool:
        raise NotImplementedError

    @property
    def uses_chat_template(self) -> bool:
        raise NotImplementedError

    def _tell(self, what: str, value: Any) -> None:
        if self.listener is not None and hasattr(self.listener, what):
            getattr(self.listener, what)(value)

    def _generate(
        self,
        prompts: list[str],
        rows: list[int],
        seeds: list[int],
        sampling: Sampling,
        spec: DecodeSpec,
        width: int | None = None,
        row_done: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """Decode ``rows`` (indices into ``prompts``) in as few device batches as fit the memory: a batch whose
        estimate exceeds the budget, or that runs out of device memory, is halved (by prompts, then by rows)
        and each half decoded on its own. Candidates do not depend on their batch, so the result is the same."""
        too_big = not self._fits(prompts, rows, spec, width)
        if not too_big:
            try:
                return self._generate_batch(prompts, rows, seeds, sampling, spec, width, row_done)
            except torch.OutOfMemoryError:
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
        if len(rows) == 1:
            tokens = (
                f"prompt of {len(self.tokenizer(prompts[rows[0]])['input_ids'])} tokens plus {spec.max_new_tokens} new"
            )
            if too_big:
                raise SelfDiscError(
                    f"One row of {self.checkpoint.model_id} does not fit the memory budget ({tokens}); use a device "
                    "with more free memory, a larger --memory-budget, or shorter prompts."
                )
            raise SelfDiscError(
                f"One row of {self.checkpoint.model_id} does not fit the device's memory ({tokens}: it ran out of "
                "memory even alone); use a device with more free memory, or shorter prompts."
            )
        self.counters["splits"] += 1
        completions: list[Completion | None] = [None] * len(rows)
        for positions in _halves(rows):
            inner = None if row_done is None else (lambda k, c, positions=positions: row_done(positions[k], c))
            part = self._generate(
                prompts, [rows[p] for p in positions], [seeds[p] for p in positions], sampling, spec, width, inner
            )
            for position, completion in zip(positions, part, strict=True):
                completions[position] = completion
        return completions  # type: ignore[return-value]

    def _fits(self, prompts: list[str], rows: list[int], spec: DecodeSpec, width: int | None = None) -> bool:
        """Whether the batch's KV cache and logits fit the budget (estimated before anything is allocated)."""
        budget = self.memory_budget if self.memory_budget is not None else _free_memory(self.device)
        if budget is None:
            return True
        config = self.config
        config = getattr(config, "get_text_config", lambda: config)()
        layers = getattr(config, "num_hidden_layers", 0) or 0
        heads = getattr(config, "num_key_value_heads", None) or getattr(config, "num_attention_heads", 0) or 0
        head_dim = getattr(config, "head_dim", None) or (
            (getattr(config, "hidden_size", 0) or 0) // max(1, getattr(config, "num_attention_heads", 1) or 1)
        )
        length = cache_capacity(
            max(len(self.tokenizer(prompts[r])["input_ids"]) for r in set(rows)) + spec.max_new_tokens
        )
        item = torch.tensor([], dtype=self.dtype).element_size()
        in_flight = min(len(rows), width or len(rows))  # waiting rows hold no memory
        kv = 2 * layers * heads * head_dim * item * length * in_flight
        logits = 4 * (getattr(config, "vocab_size", 0) or 0) * in_flight * 3  # float32 scores, noise, a restricted copy
        return kv + logits <= budget

    @torch.inference_mode()
    def _generate_batch(
        self,
        prompts: list[str],
        rows: list[int],
        seeds: list[int],
        sampling: Sampling,
        spec: DecodeSpec,
        width: int | None = None,
        row_done: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        from selfdisc_checks.backends.sampler import SeededSampler

        used = sorted(set(rows))  # only the prompts these rows read
        prompts, rows = [prompts[i] for i in used], [used.index(r) for r in rows]
        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not self.uses_chat_template
        ).to(self.device)
        ids, mask = encoded["input_ids"], encoded["attention_mask"]
        index = torch.tensor(rows, device=self.device)
        sampler = SeededSampler(seeds, sampling, device=self.device)
        self.counters["prompt_tokens"] += int(mask.sum())  # each prompt is read once, shared by its rows
        self._tell("token_limit", spec.max_new_tokens)
        completions: list[Completion | None] = [None] * len(rows)

        def finished(row: int, row_tokens: list[int], saw_eos: bool) -> None:
            text = self.tokenizer.decode(row_tokens, skip_special_tokens=True)
            cut = _cut_at_stop(text, spec.stop)
            # A row ends only at eos, a stop string or the limit: neither of the first two means the limit.
            completion = completions[row] = Completion(text=cut, truncated=not saw_eos and cut == text)
            self._tell("row_done", len(row_tokens) + int(saw_eos))  # progress moves row by row, not batch by batch
            if row_done is not None:
                row_done(row, completion)

        if self.is_encoder_decoder:
            tokens, ended = self._generate_seq2seq(ids, mask, index, sampler, spec)
            for row, (row_tokens, saw_eos) in enumerate(zip(tokens, ended, strict=True)):
                finished(row, row_tokens, saw_eos)
        else:
            self._decode(ids, mask, index, sampler, spec, width, finished)
        return completions  # type: ignore[return-value]

    def _decode(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        index: torch.Tensor,
        sampler: Any,
        spec: DecodeSpec,
        width: int | None = None,
        finished: Callable[[int, list[int], bool], None] | None = None,
    ) -> tuple[list[list[int]], list[bool]]:
        """Decoder-only decoding that does no work for finished rows and keeps the batch full.

        Each prompt is run once and its KV cache copied to its rows; every step computes only the last
        position's logits. A row that ends (eos, a stop string, the token limit) leaves the batch, cache
        included. With a ``width`` below the number of rows, waiting prompts join as soon as their rows fit
        (their cache left-padded to the batch's length), so the steps taken follow the tokens needed rather
        than the longest row of each batch. Returns each row's tokens (without eos) and whether it ended at eos;
        ``finished(row, tokens, saw_eos)`` hears of each row as it ends."""
        model = self.model
        n_rows = len(index)
        eos = set(self._eos_ids())
        limit = width or n_rows
        waiting: list[tuple[int, list[int]]] = []  # (prompt, its rows), in the order given
        for row, prompt in enumerate(index.tolist()):
            if waiting and waiting[-1][0] == prompt:
                waiting[-1][1].append(row)
            else:
                waiting.append((prompt, [row]))
        argument = _cache_argument(model)
        extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        tokens: list[list[int]] = [[] for _ in range(n_rows)]
        saw_eos = [False] * n_rows
        stops = _StopWatch(self.tokenizer, spec.stop)
        throttled = _Throttled(self.listener)
        live: _Live | None = None
        while waiting or live is not None:
            room = limit - (len(live.rows) if live is not None else 0)
            joining: list[tuple[int, list[int]]] = []
            # Rows join a running batch only when both caches can be spliced (a plain dynamic cache, a prompt
            # of more than one token); otherwise they wait for the batch to finish.
            while (
                waiting
                and (len(waiting[0][1]) <= room or (live is None and not joining))
                and (live is None or (live.mergeable and int(mask[waiting[0][0]].sum()) > 1))
            ):
                joining.append(waiting.pop(0))
                room -= len(joining[-1][1])
            if joining:
                new = self._start(ids, mask, joining)
                live = new if live is None else live.merge(new)
            assert live is not None
            out = model(
                input_ids=live.step_input,
                attention_mask=live.attention,
                position_ids=live.positions,
                use_cache=True,
                **{argument: live.cache},
                **extra,
            )
            live.cache = getattr(out, "cache", None) or out.past_key_values
            chosen = sampler.choose(torch.tensor(live.rows, device=self.device), out.logits[:, -1, :])
            keep, ended = [], []
            for line, (row, token) in enumerate(zip(live.rows, chosen.tolist(), strict=True)):
                if token in eos:
                    saw_eos[row] = True
                else:
                    tokens[row].append(token)
                    if len(tokens[row]) < spec.max_new_tokens and not stops.hit(tokens[row]):
                        keep.append(line)
                        continue
                ended.append(row)
            self.counters["generated_tokens"] += len(live.rows)
            self.counters["row_steps"] += len(live.rows)
            self.counters["steps"] += 1
            throttled.add(len(live.rows))
            if ended:
                throttled.flush()  # the listener hears of a row's tokens before the row itself
            for row in ended:
                if finished is not None:
                    finished(row, tokens[row], saw_eos[row])
            live = live.advance(keep, chosen)
        throttled.flush()
        return tokens, saw_eos

    def _start(self, ids: torch.Tensor, mask: torch.Tensor, joining: list[tuple[int, list[int]]]) -> _Live:
        """Prefill the joining prompts together (padded among themselves only) and copy each to its rows."""
        prompts = [prompt for prompt, _ in joining]
        sub_ids, sub_mask = ids[prompts], mask[prompts]
        padding = int((sub_mask.cumsum(-1) == 0).sum(-1).min())  # leading columns that are padding in all
        sub_ids, sub_mask = sub_ids[:, padding:], sub_mask[:, padding:]
        local = torch.tensor([k for k, (_, rows) in enumerate(joining) for _ in rows], device=self.device)
        model = self.model
        cache = self._prefill(model, sub_ids, sub_mask, local) if sub_ids.shape[1] > 1 else _new_cache(model)
        attention = sub_mask[local]
        return _Live(
            cache,
            attention,
            attention.sum(-1, keepdim=True) - 1,
            sub_ids[local][:, -1:],
            [row for _, rows in joining for row in rows],
        )

    def _generate_seq2seq(
        self, ids: torch.Tensor, mask: torch.Tensor, index: torch.Tensor, sampler: Any, spec: DecodeSpec
    ) -> tuple[list[list[int]], list[bool]]:
        """Encoder-decoder checkpoints decode through transformers' ``generate`` (encoder run once per prompt)."""
        from transformers import GenerationConfig, LogitsProcessorList

        model = self.model
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=spec.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self._eos_ids(),
            stop_strings=list(spec.stop) or None,
            decoder_start_token_id=getattr(model.generation_config, "decoder_start_token_id", None),
        )
        encoder_output = model.get_encoder()(input_ids=ids, attention_mask=mask)
        encoder_output.last_hidden_state = encoder_output.last_hidden_state[index]
        counter = _TokenCounter(1, self._eos_ids(), self.listener)
        output = model.generate(
            attention_mask=mask[index],
            generation_config=config,
            encoder_outputs=encoder_output,
            logits_processor=LogitsProcessorList([sampler, counter]),
            **({"tokenizer": self.tokenizer} if spec.stop else {}),
        )
        counter.flush()
        generated = output[:, 1:]  # after the decoder start token
        eos = self._eos_ids()
        tokens, ended = [], []
        for row in generated.tolist():
            cut = next((i for i, token in enumerate(row) if token in eos), None)
            tokens.append(row if cut is None else row[:cut])
            ended.append(cut is not None)
        self.counters["generated_tokens"] += sum(len(t) + e for t, e in zip(tokens, ended, strict=True))
        self.counters["row_steps"] += generated.numel()
        return tokens, ended

    @torch.inference_mode()
    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        """For each prompt, the log-probability of each option's continuation, judged at the first token where
        the options' tokenizations differ (the label's number): one forward pass per prompt. Only when one
        label's tokens are a prefix of another's is each label scored in full (its tokens' log-probabilities
        summed, one row per label)."""
        if self.is_encoder_decoder:
            raise SelfDiscError(
                f"--discriminate likelihood needs a decoder-only model, and {self.checkpoint.model_id} is an "
                "encoder-decoder; use --discriminate generate."
            )
        rows: list[list[int]] = []  # token ids of each row the model reads
        reads: list[list[tuple[int, list[int]]]] = []  # per prompt, per option: (row, the option's tokens)
        for prompt, labels in zip(prompts, options, strict=True):
            context, tails = self._option_tokens(prompt, labels)
            if len({tail[0] for tail in tails}) == len(tails):  # the usual case: the first token tells them apart
                rows.append(context)
                reads.append([(len(rows) - 1, tail[:1]) for tail in tails])
            else:  # one label's tokens begin another's ("1" and "12"): score each label's tokens in full
                reads.append([])
                for tail in tails:
                    rows.append(context + tail[:-1])
                    reads[-1].append((len(rows) - 1, tail))
        longest_tail = max(len(tail) for per_prompt in reads for _, tail in per_prompt)
        logprobs = self._last_logprobs(rows, longest_tail)
        result = []
        for per_prompt in reads:
            scores = []
            for row, tail in per_prompt:
                # Row `row` ends just before the tail's last token; tail[j] is predicted len(tail) - j places back.
                steps = logprobs[row][-len(tail) :]
                scores.append(float(sum(step[token] for step, token in zip(steps, tail, strict=True))))
            result.append(scores)
        return result

    def _option_tokens(self, prompt: str, labels: list[str]) -> tuple[list[int], list[list[int]]]:
        """The prompt's tokens plus what all labels share, and each label's remaining tokens."""
        special = not self.uses_chat_template
        base = self.tokenizer(prompt, add_special_tokens=special)["input_ids"]
        tails = []
        for label in labels:
            whole = self.tokenizer(prompt + label, add_special_tokens=special)["input_ids"]
            # Tokenised together, so the label's leading space merges as it would in the model's own output;
            # if that changes the prompt's last token, fall back to the label tokenised alone.
            tails.append(
                whole[len(base) :]
                if whole[: len(base)] == base and len(whole) > len(base)
                else self.tokenizer(label, add_special_tokens=False)["input_ids"]
            )
        shared = 0
        while all(len(tail) > shared + 1 for tail in tails) and len({tail[shared] for tail in tails}) == 1:
            shared += 1
        return base + tails[0][:shared], [tail[shared:] for tail in tails]

    def _last_logprobs(self, rows: list[list[int]], keep: int) -> list[torch.Tensor]:
        """Log-softmax of the next-token distribution at each row's last ``keep`` positions."""
        model = self.model
        pad = self.tokenizer.pad_token_id
        width = max(len(row) for row in rows)
        ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, **extra).logits[:, -keep:]
        return list(torch.log_softmax(logits.float(), dim=-1).cpu())

    def _prefill(self, model: Any, ids: torch.Tensor, mask: torch.Tensor, index: torch.Tensor) -> Any:
        """Run each prompt once (all but its last token) and copy its KV cache to its candidate rows."""
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        argument = _cache_argument(model)
        extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        out = model(  # only the cache is needed: keep one position's logits, not the vocabulary at every position
            input_ids=ids[:, :-1],
            attention_mask=mask[:, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
            **{argument: _new_cache(model)},
            **extra,
        )
        cache = getattr(out, "cache", None) or out.past_key_values
        cache.batch_select_indices(index)
        return cache

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in [self.tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])]:
            if value is not None and value not in ids:
                ids.append(value)
        return ids


class _Throttled:
    """Decoded-token counts for the listener, handed over about twice a second. A count may be a device tensor:
    it is summed where it lives and read (one sync) only when handed over."""

    def __init__(self, listener: Any, every: float = 0.5) -> None:
        self.report = getattr(listener, "tokens", None)
        self.every, self.last = every, time.perf_counter()
        self.pending: int | torch.Tensor = 0

    def add(self, count: int | torch.Tensor) -> None:
        if self.report is None:
            return
        self.pending = self.pending + count
        if time.perf_counter() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.report is not None and int(self.pending):
            self.report(int(self.pending))
        self.pending, self.last = 0, time.perf_counter()


class _TokenCounter:
    """A logits processor for ``generate`` (encoder-decoder models) that only counts the tokens of rows that
    have not ended."""

    def __init__(self, start: int, eos_ids: list[int], listener: Any) -> None:
        self.start, self.eos = start, eos_ids
        self.throttled = _Throttled(listener)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.throttled.report is not None:
            ended = torch.isin(input_ids[:, self.start :], torch.tensor(self.eos, device=input_ids.device)).any(dim=-1)
            self.throttled.add((~ended).sum())
        return scores

    def flush(self) -> None:
        self.throttled.flush()


def _halves(rows: list[int]) -> list[list[int]]:
    """Two parts of a batch, as positions in ``rows``: by prompts when it has several (a prompt's rows share
    its prefill), else by rows."""
    prompts = sorted(set(rows))
    if len(prompts) > 1:
        first = set(prompts[: len(prompts) // 2])
        return [[p for p, r in enumerate(rows) if r in first], [p for p, r in enumerate(rows) if r not in first]]
    middle = len(rows) // 2
    return [list(range(middle)), list(range(middle, len(rows)))]


def _free_memory(device: str) -> float | None:
    """Free device memory in bytes (CUDA), or None on CPU where the operating system pages instead of failing."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return 0.9 * free
    return None


class _Live:
    """The rows being decoded: their shared KV cache, attention mask (cached positions plus the step's input),
    positions, next inputs, and which original row each line is."""

    def __init__(
        self, cache: Any, attention: torch.Tensor, positions: torch.Tensor, step_input: torch.Tensor, rows: list[int]
    ) -> None:
        self.cache, self.attention, self.positions, self.step_input, self.rows = (
            cache,
            attention,
            positions,
            step_input,
            rows,
        )

    @property
    def mergeable(self) -> bool:
        """Whether rows can join: a plain dynamic cache, filled, whose per-layer keys and values we can pad and
        stack (sliding-window or other caches are left alone)."""
        from transformers.cache_utils import DynamicLayer

        plain = (DynamicLayer, _growing_layer_class())  # not their subclasses (sliding windows)
        layers = getattr(self.cache, "layers", None) or []
        return bool(layers) and all(
            type(layer) in plain
            and getattr(layer, "is_initialized", False)
            and layer.keys is not None
            and layer.keys.numel()
            for layer in layers
        )

    def merge(self, other: _Live) -> _Live:
        """These rows and ``other``'s in one batch: the shorter side's cache and mask are left-padded (masked
        out), so every line keeps attending to exactly its own tokens."""
        width = max(self.attention.shape[1], other.attention.shape[1])
        pads = (width - self.attention.shape[1], width - other.attention.shape[1])
        attention = torch.cat(
            [torch.nn.functional.pad(a.attention, (pad, 0)) for a, pad in zip((self, other), pads, strict=False)]
        )
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, pads[0]), _left_pad(theirs.keys, pads[1])])
            mine.values = torch.cat([_left_pad(mine.values, pads[0]), _left_pad(theirs.values, pads[1])])
        return _Live(
            self.cache,
            attention,
            torch.cat([self.positions, other.positions]),
            torch.cat([self.step_input, other.step_input]),
            self.rows + other.rows,
        )

    def advance(self, keep: list[int], chosen: torch.Tensor) -> _Live | None:
        """After a step: keep the lines still running, feed them their new token; None when none runs."""
        if not keep:
            return None
        if len(keep) < len(self.rows):  # finished rows leave the batch
            lines = torch.tensor(keep, device=chosen.device)
            self.cache.batch_select_indices(lines)
            self.attention, self.positions, chosen = self.attention[lines], self.positions[lines], chosen[lines]
            self.rows = [self.rows[line] for line in keep]
            unused = int((self.attention.cumsum(-1) == 0).sum(-1).min())  # padding no running row needs any more
            if unused and self.mergeable:
                self.attention = self.attention[:, unused:]
                for layer in self.cache.layers:
                    if getattr(layer, "is_initialized", False):
                        layer.keys, layer.values = layer.keys[:, :, unused:], layer.values[:, :, unused:]
        self.attention = torch.cat([self.attention, self.attention.new_ones((len(self.rows), 1))], dim=-1)
        self.positions = self.positions + 1
        self.step_input = chosen[:, None]
        return self


def _left_pad(states: torch.Tensor, pad: int) -> torch.Tensor:
    """Cached states ``[rows, heads, positions, dim]`` with ``pad`` zero positions on the left (masked out)."""
    return torch.nn.functional.pad(states, (0, 0, pad, 0)) if pad else states


class _StopWatch:
    """Whether a row's text so far contains a stop sequence, decoding only its last few tokens each step."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...]) -> None:
        self.tokenizer, self.stops = tokenizer, stops
        # A stop sequence of k characters spans at most k tokens (plus partial bytes of a character).
        self.window = max((len(stop) for stop in stops), default=0) + 4

    def hit(self, tokens: list[int]) -> bool:
        if not self.stops:
            return False
        tail = self.tokenizer.decode(tokens[-self.window :], skip_special_tokens=True)
        return any(stop in tail for stop in self.stops)


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    return text if cut < 0 else text[:cut]


def _cache_argument(model: Any) -> str:
    """``cache`` in recent transformers, ``past_key_values`` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _new_cache(model: Any) -> Any:
    """A dynamic cache whose plain layers grow in place (``_growing_layer``); sliding-window and other
    layers are transformers' own."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:
        cache = DynamicCache()
    layers = getattr(cache, "layers", None)
    if isinstance(layers, list) and layers:
        growing = _growing_layer_class()
        cache.layers = [growing() if type(layer) is DynamicLayer else layer for layer in layers]
    return cache


GROW_POSITIONS = 256  # the most spare positions a growing cache layer allocates at a time


def cache_capacity(needed: int) -> int:
    """Positions a growing cache layer allocates when it needs ``needed``: a quarter more (16 to
    ``GROW_POSITIONS``), so a step rarely copies the cache and memory stays within a quarter of the need."""
    return needed + min(GROW_POSITIONS, max(16, needed // 4))


@functools.cache
def _growing_layer_class() -> type:
    """transformers' ``DynamicLayer`` with room to grow: its keys and values live at the start of a buffer
    with spare positions (``cache_capacity``), so a decoding step writes its new position in place. The
    plain layer concatenates (copies) the whole cache of every layer at every step: on a 2-core CPU, 110 ms of
    a 415 ms SmolLM2 step at 32 rows and 640 cached tokens, growing with the context. ``keys``/``values`` read as the filled part (a
    view), and assigning them (row selection, padding, splicing) replaces the buffer, so every other use of
    the layer is unchanged; values attended to are the same numbers, so candidates are too."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def __init__(self, **kwargs: Any) -> None:
            self._buffers: dict[str, Any] = {"keys": None, "values": None}
            self._lengths: dict[str, int | None] = {"keys": None, "values": None}
            super().__init__(**kwargs)

        def _filled(self, name: str) -> Any:
            buffer, length = self._buffers[name], self._lengths[name]
            if length is None or buffer.shape[-2] == length:
                return buffer
            return buffer[:, :, :length]

        def _assign(self, name: str, value: Any) -> None:
            buffer = self._buffers[name]
            if (
                isinstance(buffer, torch.Tensor)
                and isinstance(value, torch.Tensor)
                and value.dim() == 4
                and buffer.dim() == 4
                and value.data_ptr() == buffer.data_ptr()
                and value.stride() == buffer.stride()
                and value.shape[:2] == buffer.shape[:2]
            ):
                self._lengths[name] = value.shape[-2]  # a prefix of the buffer (a crop): keep the room
                return
            self._buffers[name] = value
            self._lengths[name] = value.shape[-2] if isinstance(value, torch.Tensor) and value.dim() == 4 else None

        keys = property(lambda self: self._filled("keys"), lambda self, value: self._assign("keys", value))
        values = property(lambda self: self._filled("values"), lambda self, value: self._assign("values", value))

        def _append(self, name: str, states: torch.Tensor) -> None:
            length = self._lengths[name]
            if length is None:  # the first states (a prefill): kept as they are, with no room yet
                self._assign(name, states)
                return
            needed = length + states.shape[-2]
            buffer = self._buffers[name]
            if needed > buffer.shape[-2] or buffer.shape[:2] != states.shape[:2]:
                grown = buffer.new_empty((*states.shape[:2], cache_capacity(needed), states.shape[-1]))
                grown[:, :, :length] = buffer[:, :, :length]
                buffer = self._buffers[name] = grown
            buffer[:, :, length:needed] = states
            self._lengths[name] = needed

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            self._append("keys", key_states)
            self._append("values", value_states)
            return self.keys, self.values

    return GrowingLayer
