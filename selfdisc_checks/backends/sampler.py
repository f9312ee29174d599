"""Seeded sampling whose randomness belongs to each candidate, not to the batch, made on the device.

Candidate ``i`` of question ``q`` has its own 32-bit seed (``seeds.candidate_seed``). Its k-th token needs
one uniform number, ``u = uniform(seed, k)``: a counter-based hash of the seed and the token's index,
computed where the logits live. The token is the one whose interval of the cumulative distribution of
``softmax(logits / T)`` holds ``u`` (inverse-CDF sampling, an exact sample). So a candidate does not depend
on its batch, its worker or what was cached, and drawing costs one number per row per step plus a softmax
and a cumulative sum: no per-row random generator and no host-to-device copy of a (rows, vocabulary) block.

``top_k`` and ``top_p`` restrict the support first (tokens outside it get probability 0, so the sample is
exact for the renormalised restricted distribution). Nothing else touches the logits.

Earlier versions drew Gumbel noise for every vocabulary entry from a CPU generator per row (96 ms per step
for 32 rows x 152k vocabulary on 2 cores, more than a GPU decode step); see ``seeds.SAMPLER_VERSION``.
"""

from __future__ import annotations

from typing import cast

import torch
from transformers import LogitsProcessor

from selfdisc_checks.records import Sampling

_MASK = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche hash (``lowbias32``) of int64 values below 2**32. Products may wrap in int64; the low
    32 bits kept are exact either way, so the result is the same on every device."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def uniforms(seeds: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """One float32 number in the open interval (0, 1) per (seed, step) pair. 24 random bits: as many as a
    float32 cumulative distribution resolves, and exact in float32 on every device."""
    mixed = _mix32((seeds.to(torch.int64) & _MASK) ^ _mix32(steps.to(torch.int64) & _MASK))
    return ((mixed >> 8).to(torch.float32) + 0.5) / 2**24


def restrict(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logits`` with every token outside the top-k / top-p support set to ``-inf`` (at least one kept)."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first token always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def inverse_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """For each row, the token whose interval of the cumulative weights holds ``u`` (scaled to the row's total):
    a sample proportional to the weights, which need not be normalised. A token of weight 0 has an empty
    interval and is never chosen. ``weights`` is overwritten by its cumulative sum."""
    cdf = weights.cumsum_(dim=-1)
    total = cdf[:, -1:]
    target = (u.to(cdf.dtype)[:, None] * total).minimum(torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


class SeededSampler(LogitsProcessor):
    """Chooses each row's next token: seeded sampling at ``sampling.temperature``, plain argmax at 0.

    Row ``r`` (seed ``seeds[r]``) counts its own draws, so its k-th draw serves its k-th token whichever
    rows share the step. As a ``generate`` logits processor (encoder-decoder models) it returns scores whose
    argmax is the chosen token.
    """

    def __init__(self, seeds: list[int], sampling: Sampling, device: str | torch.device = "cpu") -> None:
        self.sampling = sampling
        self.seeds = torch.tensor([int(seed) for seed in seeds], dtype=torch.int64, device=device)
        self.steps = torch.zeros_like(self.seeds)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.sampling.temperature == 0:
            return scores
        chosen = self.choose(torch.arange(len(self.seeds), device=scores.device), scores)
        return cast(torch.FloatTensor, torch.full_like(scores, float("-inf")).scatter_(-1, chosen[:, None], 0.0))

    def choose(self, rows: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """The next token of each row in ``rows`` (indices into the seeds; ``scores`` has one line per entry)."""
        s = self.sampling
        if s.temperature == 0:
            return scores.argmax(dim=-1)
        rows = rows.to(self.seeds.device)
        u = uniforms(self.seeds[rows], self.steps[rows]).to(scores.device)
        self.steps[rows] += 1
        logits = restrict(scores.to(torch.float32) / s.temperature, s.top_k, s.top_p)  # a new tensor: ours to overwrite
        weights = logits.sub_(logits.max(dim=-1, keepdim=True).values).exp_()  # softmax without the division
        return inverse_cdf(weights, u)
