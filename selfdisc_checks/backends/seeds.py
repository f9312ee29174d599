"""Per-candidate seeds: a candidate's randomness depends on who it is, never on where it was sampled.

Question ``q`` gets a base seed ``s_q`` from the run seed, the task and the question id; its candidate
``i`` is sampled with ``s_q + i``. That is how vLLM numbers the N samples of one seeded request, so a
vLLM backend can reproduce the scheme, and it lets ``--samples 8`` after ``--samples 4`` reuse the first
four candidates unchanged.
"""

from __future__ import annotations

import hashlib

# Part of every candidate cache key: bump it when the sampling algorithm changes what a seed produces
# (``sampler.SeededSampler``; kept here so building keys does not import torch). Version 3 draws on the device
# by inverse CDF with hashed uniforms; version 2 drew CPU Gumbel noise, so its candidates differ.
SAMPLER_VERSION = "inverse-cdf/lowbias32/3"


def sampler_family(backend: str) -> str:
    """What turns seeds into candidates under ``--backend``, for the task protocol: transformers (in this
    process or on Ray actors) samples with ``SAMPLER_VERSION``; vLLM with its own seeded sampler; any other
    backend (scripted, a package's own) is a family of its own, named by the backend."""
    if backend in ("hf", "ray"):
        return SAMPLER_VERSION
    return backend


def question_seed(run_seed: int, task: str, question_id: str) -> int:
    """The 32-bit base seed ``s_q`` of a question."""
    digest = hashlib.sha256(f"{run_seed}:{task}:{question_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def candidate_seed(run_seed: int, task: str, question_id: str, index: int) -> int:
    """The 32-bit seed of candidate ``index`` of a question: ``s_q + index`` (modulo 2**32)."""
    return (question_seed(run_seed, task, question_id) + index) % 2**32


def orderings(run_seed: int, task: str, question_id: str, n: int, count: int) -> list[tuple[int, ...]]:
    """``count`` distinct orderings of ``n`` candidates for a question: the identity first, then seeded
    shuffles (for position-bias checks). ``count`` must not exceed n!."""
    import random

    rng = random.Random(f"orderings:{run_seed}:{task}:{question_id}")
    found = [tuple(range(n))]
    while len(found) < count:
        order = list(range(n))
        rng.shuffle(order)
        if tuple(order) not in found:
            found.append(tuple(order))
    return found
