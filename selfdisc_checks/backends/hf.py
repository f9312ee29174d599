"""The Hugging Face backend: load a checkpoint (configuration, tokenizer, weights), render prompts, and hand
sampling, greedy decoding and label scoring to the continuous-batching decoder (``decoder.Decoder``).

The protocol is neutral: transformers fills every generation setting we leave unset from the checkpoint's
own ``generation_config.json`` (repetition penalties, n-gram bans, minimum lengths, suppressed tokens,
top-k ...), which would change what "sampling at T" and "greedy" mean from one checkpoint to the next.
So the loaded model's generation config is replaced by one that keeps only its special token ids.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from selfdisc_checks.backends.checkpoint import Checkpoint, parameter_count
from selfdisc_checks.backends.decoder import (  # noqa: F401 - cache_capacity and the layer class: tests and the bench
    Decoder,
    _cache_argument,
    _free_memory,
    _growing_layer_class,
    _new_cache,
    cache_capacity,
)
from selfdisc_checks.backends.rendering import render_chat, render_plain
from selfdisc_checks.backends.seeds import SAMPLER_VERSION
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def worker_gpu(worker: str | None, gpus: int) -> int | None:
    """The GPU an xdist worker (``gw0``, ``gw1``, ...) runs on when there are several: worker k takes GPU
    k mod count, so ``pytest -n K`` spreads its tasks over the visible devices. None: no pinning."""
    if not worker or gpus < 2 or not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    return int(worker[2:]) % gpus


def resolve_device(device: str, worker: str | None = None) -> str:
    """``auto`` -> ``cuda`` when available (an xdist worker's own GPU when there are several), else ``cpu``;
    a CUDA request without CUDA is an error."""
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        index = worker_gpu(worker, torch.cuda.device_count())
        return "cuda" if index is None else f"cuda:{index}"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SelfDiscError(f"--device {device} was asked for but CUDA is not available; use --device cpu or auto.")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise SelfDiscError(
                f"--device {device} does not exist: this machine has {torch.cuda.device_count()} GPU(s)."
            )
    return device


def usable_cpus(cgroup: str | None = None) -> int:
    """CPUs this process may really use: those its affinity allows, capped by a cgroup CPU quota (a container
    limited to 2 CPUs on a 64-core host sees 64 cores, and torch would start 64 threads that fight over 2).
    ``cgroup`` is the text of cgroup v2's ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD"); None reads it."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    if cgroup is None:
        try:
            cgroup = Path("/sys/fs/cgroup/cpu.max").read_text()
        except OSError:
            cgroup = ""
    fields = cgroup.split()
    if len(fields) == 2 and fields[0] != "max":
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            return max(1, count)
        if quota > 0 and period > 0:
            count = min(count, -(-quota // period))
    return max(1, count)


def cpu_threads(workers: int, cgroup: str | None = None) -> int:
    """Torch threads for each of ``workers`` processes sharing this machine's usable CPUs."""
    return max(1, usable_cpus(cgroup) // max(1, workers))


def fits_one_device(weight_bytes: float, free_bytes: float) -> bool:
    """Whether weights fit one device with a fifth of its free memory left for the KV cache and activations;
    larger checkpoints are spread over the visible devices (``device_map="auto"``)."""
    return weight_bytes <= 0.8 * free_bytes


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto`` -> bfloat16 (or float16) on GPU; float32 on CPU, where it is reproducible across batch shapes."""
    if dtype != "auto":
        return _DTYPES[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class HFBackend(Decoder):
    """A transformers checkpoint behind the calls the pipeline makes: render, sample, greedy, option_logprobs."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        memory_budget: float | None = None,
        worker: str | None = None,
        device_map: str | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        # How messages name this model (the session says which is the judge).
        self.described_as = checkpoint.model_id
        # "auto": spread the weights over every visible device (accelerate's device_map); None: only when they
        # do not fit the one device (see ``fits_one_device``).
        self.device_map = device_map
        self.placement: str | None = None  # where a spread model's layers went, once loaded
        # Bytes a decoding batch may use (KV cache and logits); None: what the device has free when a batch starts.
        self.memory_budget = memory_budget
        self.device = resolve_device(device, worker)
        self.dtype = resolve_dtype(dtype, self.device)
        self.trust_remote_code = trust_remote_code
        # Candidates depend on the weights and on the precision they run in.
        self.fingerprint = f"{checkpoint.fingerprint}-{str(self.dtype).removeprefix('torch.')}"
        self.sampler = SAMPLER_VERSION
        self._load_kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if checkpoint.gguf_file:
            self._load_kwargs["gguf_file"] = checkpoint.gguf_file
        # Config, tokenizer and weights load on first use: a run the cache covers needs none of them.
        # Who hears of loading and of decoded tokens (a progress.Tracker; set by the session, None: nobody).
        self.listener: Any = None
        self._loading_since: float | None = None  # when the first of configuration, tokenizer, weights began
        # What this backend computed: prompt tokens read, tokens generated, row-steps decoded (for timing records).
        self.counters = {"prompt_tokens": 0, "generated_tokens": 0, "row_steps": 0, "steps": 0, "splits": 0}
        # Rows decoded at once when sampling and when decoding greedily; waiting prompts join as rows finish
        # (None: every row of a call starts together).
        self.rows_in_flight: int | None = None
        self.prompts_in_flight: int | None = None

    # -- loading ---------------------------------------------------------------------------------

    @cached_property
    def config(self) -> Any:
        self._announce_loading()  # before the import, which alone can take seconds on a busy machine
        from transformers import AutoConfig

        return self._load(AutoConfig.from_pretrained, "configuration")

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @cached_property
    def tokenizer(self) -> Any:
        """Left-padding tokenizer, padding with eos (or unk, bos) when it has no pad token."""
        self._announce_loading()
        from transformers import AutoTokenizer

        tokenizer = self._load(AutoTokenizer.from_pretrained, "tokenizer")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            fallback = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
            if fallback is None:
                raise SelfDiscError(
                    f"The tokenizer of {self.checkpoint.model_id} has no pad, eos, unk or bos token to pad batches "
                    "with; add a pad_token to its tokenizer_config.json."
                )
            tokenizer.pad_token = fallback
        return tokenizer

    @property
    def uses_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _load(self, loader, what: str, **extra: Any):
        self._announce_loading()
        try:
            return loader(str(self.checkpoint.folder), **self._load_kwargs, **extra)
        except SelfDiscError:
            raise
        except Exception as error:  # transformers raises many types for a broken checkpoint
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if "trust_remote_code" in str(error) and not self.trust_remote_code:
                raise SelfDiscError(
                    f"{self.described_as} needs its own Python code to load its {what}; rerun with "
                    "--trust-remote-code only if you trust that code."
                ) from None
            raise SelfDiscError(
                f"Could not load the {what} of {self.described_as} ({type(error).__name__}: {message}); "
                "check that the checkpoint is complete and made for transformers."
            ) from None

    def _announce_loading(self) -> None:
        """Say "loading" when the first part of the checkpoint starts to load (the tokenizer, to render the first
        prompts, comes before the weights), so that line comes before the phase's first progress line."""
        if self._loading_since is None:
            self._loading_since = time.perf_counter()
            dtype = str(self.dtype).removeprefix("torch.")
            self._tell("status", f"loading {self.checkpoint.model_id} ({self.device}, {dtype})")

    @cached_property
    def model(self) -> Any:
        """The weights, loaded on first use so a fully cached run never reads them."""
        self._announce_loading()
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        auto = AutoModelForSeq2SeqLM if self.is_encoder_decoder else AutoModelForCausalLM
        extra: dict[str, Any] = {"dtype": self.dtype}
        if self.checkpoint.gguf_file:
            from transformers import GgufConfig

            extra["quantization_config"] = GgufConfig(dequantize=True)
        elif not self.checkpoint.allow_pickle:
            extra["use_safetensors"] = True  # never unpickle weights without --allow-pickle-weights
        self._announce_loading()
        spread = self.device_map or self._spread_reason()
        if spread:
            extra["device_map"] = "auto"
            why = "" if spread == "auto" else f": {spread}"  # "auto": asked for, not needed
            self._tell("status", f"spreading {self.checkpoint.model_id} over the devices{why}")
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # our own line says what is loading; its bar would garble logs
        try:
            with _quiet_gguf_bar(bool(self.checkpoint.gguf_file)):
                model = self._load(auto.from_pretrained, "weights", **extra)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        model.generation_config = neutral_generation_config(model.generation_config)
        if spread:  # inputs go where the embeddings are; accelerate moves activations between devices
            self.device = str(model.get_input_embeddings().weight.device)
            self.placement = ", ".join(sorted({str(parameter.device) for parameter in model.parameters()}))
            model = model.eval()
        else:
            model = model.to(self.device).eval()
        assert self._loading_since is not None
        self._tell("status", f"loaded {self.checkpoint.model_id} in {time.perf_counter() - self._loading_since:.1f} s")
        return model

    def _spread_reason(self) -> str | None:
        """Why the weights must be spread over several devices (None: they fit the one chosen)."""
        if not self.device.startswith("cuda") or self.checkpoint.gguf_file:
            return None
        count = parameter_count(self.checkpoint.folder)
        free = _free_memory(self.device)
        if count is None or free is None:
            return None
        weights = count * torch.tensor([], dtype=self.dtype).element_size()
        if fits_one_device(weights, free):
            return None
        return f"{weights / 2**30:.1f} GiB of weights, {free / 2**30:.1f} GiB free on {self.device}"

    def describe(self) -> dict[str, str]:
        """Where and in what precision the model runs (for the results record)."""
        device = f"spread: {self.placement}" if self.placement else self.device
        return {"device": device, "dtype": str(self.dtype).removeprefix("torch.")}

    def close(self) -> None:
        """Nothing to release: the weights go with the process."""

    # -- prompts ---------------------------------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        """The exact text the model reads (chat template when the tokenizer has one)."""
        return render_chat(self.tokenizer, prompt) if self.uses_chat_template else render_plain(prompt)

    # -- decoding --------------------------------------------------------------------------------

    def sample(
        self,
        prompts: list[str],
        seeds: list[list[int]],
        sampling: Sampling,
        spec: DecodeSpec,
        done: Callable[[int, list[Completion]], None] | None = None,
    ) -> list[list[Completion]]:
        """``len(seeds[i])`` candidates for ``prompts[i]``, candidate j sampled with seed ``seeds[i][j]``.
        ``done(i, candidates)`` hears of each prompt as soon as all its candidates have finished, so the
        caller can store them before the rest of the call ends."""
        rows = [i for i, row_seeds in enumerate(seeds) for _ in row_seeds]
        flat_seeds = [seed for row_seeds in seeds for seed in row_seeds]
        grouped: list[list[Completion | None]] = [[None] * len(row_seeds) for row_seeds in seeds]
        slot = [j for row_seeds in seeds for j in range(len(row_seeds))]
        left = [len(row_seeds) for row_seeds in seeds]

        def row_done(position: int, completion: Completion) -> None:
            prompt = rows[position]
            if grouped[prompt][slot[position]] is not None:
                return  # decoded again after a batch ran out of memory: the same text, already counted
            grouped[prompt][slot[position]] = completion
            left[prompt] -= 1
            if left[prompt] == 0 and done is not None:
                done(prompt, grouped[prompt])  # type: ignore[arg-type]

        self._generate(prompts, rows, flat_seeds, sampling, spec, self.rows_in_flight, row_done)
        return grouped  # type: ignore[return-value]

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        """One greedy (plain argmax) completion per prompt."""
        return self._generate(
            prompts, list(range(len(prompts))), [0] * len(prompts), Sampling(0.0), spec, self.prompts_in_flight
        )


@contextmanager
def _quiet_gguf_bar(gguf: bool) -> Iterator[None]:
    """transformers de-quantizes a GGUF file under a tqdm bar of its own (``tqdm.auto``, which its progress-bar
    switch does not reach), written over a log's lines: silenced while the weights load."""
    module: Any = None
    if gguf:
        try:
            import transformers.modeling_gguf_pytorch_utils

            module = transformers.modeling_gguf_pytorch_utils
        except ImportError:  # another layout: its bar shows, nothing else changes
            module = None
    original = getattr(module, "tqdm", None)
    if module is None or original is None:
        yield
        return
    module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        module.tqdm = original


# The only generation settings a checkpoint may contribute: which ids are special.
SPECIAL_TOKEN_SETTINGS = ("eos_token_id", "pad_token_id", "bos_token_id", "decoder_start_token_id")


def neutral_generation_config(original: Any) -> Any:
    """A generation config holding only ``original``'s special token ids, so nothing else leaks in."""
    from transformers import GenerationConfig

    kept = {name: getattr(original, name, None) for name in SPECIAL_TOKEN_SETTINGS}
    return GenerationConfig(**{name: value for name, value in kept.items() if value is not None})
