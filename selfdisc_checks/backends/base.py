"""The backend protocol: the few calls the pipeline makes of a model."""

from __future__ import annotations

from typing import Protocol

from selfdisc_checks.records import DecodeSpec, Prompt


class Backend(Protocol):
    """What the pipeline needs from a model (see ``HFBackend``)."""

    fingerprint: str

    def render(self, prompt: Prompt) -> str: ...

    def sample(self, prompts: list[str], seeds: list[list[int]], temperature: float, spec: DecodeSpec) -> list[list[str]]: ...

    def greedy(self, prompts: list[str], spec: DecodeSpec) -> list[str]: ...
