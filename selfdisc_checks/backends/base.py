"""The backend protocol: every call the pipeline, the session, the judge and the bench make of a model.

A backend takes rendered text, per-candidate seeds, sampling settings and a ``DecodeSpec``, and returns
``Completion`` records; it knows nothing of tasks, questions or the cache. Backends are created by the
factories of ``registry`` (``--backend NAME``); ``hf.HFBackend``, ``ray.RayBackend``, ``vllm.VLLMBackend``
and ``scripted.ScriptedBackend`` implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling


@runtime_checkable
class Backend(Protocol):
    """What the engine needs from a model."""

    # Identifies the weights, tokenizer and precision (for a scripted model: the script): part of every cache
    # key, so two backends with the same fingerprint must give the same outputs.
    fingerprint: str
    # Identifies how a seed becomes a candidate: part of every candidate's cache key.
    sampler: str
    # How messages name this model ("the judge model P (--judge-model)"); the session sets it per role.
    described_as: str
    # Who hears of loading and decoding: an object with optional ``status(text)``, ``tokens(count)`` (tokens
    # decoded), ``row_done(tokens)`` (a row finished: one candidate, output or verdict, so progress moves within
    # a batch) and ``token_limit(count)`` (a batch's per-row limit) methods (a ``progress.Tracker``); set by the
    # session around each task, None: nobody.
    listener: Any

    @property
    def counters(self) -> Mapping[str, int]:
        """What this backend computed so far (``prompt_tokens``, ``generated_tokens``, and what else it counts),
        read before and after a task for its timing record."""
        ...

    def render(self, prompt: Prompt) -> str:
        """The exact text the model reads for ``prompt``."""
        ...

    def sample(
        self,
        prompts: list[str],
        seeds: list[list[int]],
        sampling: Sampling,
        spec: DecodeSpec,
        done: Callable[[int, list[Completion]], None] | None = None,
    ) -> list[list[Completion]]:
        """For each prompt, one completion per seed, each drawn with its own seed (the same seed gives the same
        completion whatever else is in the call); ``done(i, completions)`` is called as soon as prompt ``i``'s
        completions are all finished (the caller stores them at once)."""
        ...

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        """One plain-argmax completion per prompt (discrimination outputs and judge verdicts)."""
        ...

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        """For each prompt, a log-probability score of each option's text as the continuation (likelihood
        discrimination: the option with the highest score is the pick)."""
        ...

    def describe(self) -> dict[str, str]:
        """``device`` and ``dtype``, for the results record."""
        ...

    def close(self) -> None:
        """Release what the backend holds (actors, an engine); called once at the end of the session."""
        ...
