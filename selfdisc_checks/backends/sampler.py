"""Seeded sampling whose randomness belongs to each candidate, not to the batch.

Candidate ``i`` of question ``q`` gets its own 32-bit seed (``_seeds.candidate_seed``) and its own
random stream: a CPU Mersenne-Twister generator seeded with it. At each decoding step its token is
``argmax(logits / T + Gumbel noise)`` (the Gumbel-max trick, an exact sample from ``softmax(logits / T)``),
with the noise drawn from that stream. So a candidate does not depend on its batch, its worker or what was
cached, and since the noise is drawn on the CPU and then moved, it is the same on CPU and GPU.
(A vectorised integer hash of (seed, step, token) did the same job but cost 5x more per step.)
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


def gumbel_noise(generators: list[torch.Generator], vocab_size: int) -> torch.Tensor:
    """The next (rows, vocab) block of Gumbel noise, row ``r`` drawn from ``generators[r]`` alone."""
    uniform = torch.stack([torch.rand(vocab_size, generator=g) for g in generators])
    # rand is in [0, 1); keep u strictly inside (0, 1) so both logs are finite.
    uniform.clamp_(min=torch.finfo(torch.float32).tiny, max=1.0 - torch.finfo(torch.float32).eps)
    return -torch.log(-torch.log(uniform))


class SeededGumbelSampler(LogitsProcessor):
    """Turns greedy decoding into seeded sampling at ``temperature`` (0 keeps it greedy).

    ``generate`` calls it once per step for every row, so row ``r``'s k-th draw always serves its k-th token.
    """

    def __init__(self, seeds: list[int], temperature: float) -> None:
        self.temperature = temperature
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.temperature == 0:
            return scores
        noise = gumbel_noise(self.generators, scores.shape[-1]).to(scores.device)
        return scores.to(torch.float32) / self.temperature + noise
