"""Seeded sampling whose randomness belongs to each candidate, not to the batch.

Candidate ``i`` of question ``q`` gets its own 32-bit seed (``_seeds.candidate_seed``). At each decoding step its token is ``argmax(logits / T + Gumbel noise)`` (the Gumbel-max trick,
an exact sample from ``softmax(logits / T)``), where the noise for (seed, step, token) is an integer hash
computed with tensor ops. So a candidate does not depend on its batch, its worker or what was cached,
and the noise is the same on CPU and GPU.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

_MASK = 0xFFFFFFFF


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds) on int64 tensors holding 32-bit values."""
    x = x & _MASK
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & _MASK
    x = ((x ^ (x >> 15)) * 0x846CA68B) & _MASK
    return x ^ (x >> 16)


def gumbel_noise(seeds: torch.Tensor, step: int, vocab_size: int) -> torch.Tensor:
    """Noise of shape (rows, vocab) determined by each row's seed, the step and the token id."""
    tokens = torch.arange(vocab_size, device=seeds.device, dtype=torch.int64)
    row = _mix(seeds.to(torch.int64) * 0x9E3779B1 + step)
    bits = _mix(row[:, None] ^ _mix(tokens[None, :] + 0x632BE5AB))
    uniform = ((bits >> 8).to(torch.float64) + 0.5) / float(1 << 24)
    return -torch.log(-torch.log(uniform))


class SeededGumbelSampler(LogitsProcessor):
    """Turns greedy decoding into seeded sampling at ``temperature`` (0 keeps it greedy)."""

    def __init__(self, seeds: list[int], temperature: float, prompt_length: int) -> None:
        self.seeds = torch.tensor(seeds, dtype=torch.int64)
        self.temperature = temperature
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.temperature == 0:
            return scores
        step = input_ids.shape[1] - self.prompt_length
        noise = gumbel_noise(self.seeds.to(scores.device), step, scores.shape[-1])
        perturbed = scores.to(torch.float64) / self.temperature + noise
        return perturbed.to(torch.float32)
