"""The backend protocol: the few calls the pipeline makes of a model.

A backend takes rendered text, per-candidate seeds, sampling settings and a ``DecodeSpec``, and returns
``Completion`` records; it knows nothing of tasks, questions or the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from selfdisc_checks.records import Completion, DecodeSpec, Prompt, Sampling


class Backend(Protocol):
    """What the pipeline needs from a model (see ``hf.HFBackend``)."""

    fingerprint: str  # identifies the weights, tokenizer and precision: part of every cache key
    sampler: str  # identifies how a seed becomes a candidate: part of every candidate's cache key

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
        """For each prompt, one completion per seed, each drawn with its own seed; ``done(i, completions)`` is
        called as soon as prompt ``i``'s completions are all finished (the caller stores them at once)."""
        ...

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[Completion]:
        """One plain-argmax completion per prompt."""
        ...

    def option_logprobs(self, prompts: list[str], options: list[list[str]]) -> list[list[float]]:
        """For each prompt, a log-probability score of each option's text as the continuation (likelihood
        discrimination: the option with the highest score is the pick)."""
        ...

    def describe(self) -> dict[str, str]:
        """``device`` and ``dtype``, for the results record."""
        ...
