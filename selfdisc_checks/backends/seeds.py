"""Per-candidate seeds: a candidate's randomness depends on who it is, never on where it was sampled."""

from __future__ import annotations

import hashlib

# Part of every candidate cache key: bump it when the sampling algorithm changes what a seed produces
# (``_sampling.SeededGumbelSampler``; kept here so building keys does not import torch).
SAMPLER_VERSION = "gumbel-max/mt19937-cpu/1"


def candidate_seed(run_seed: int, task: str, question_id: str, index: int) -> int:
    """The 32-bit seed of candidate ``index`` of a question, from the run seed, the task and the question id."""
    digest = hashlib.sha256(f"{run_seed}:{task}:{question_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
