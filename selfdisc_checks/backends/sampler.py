"""Seeded sampling whose randomness belongs to each candidate, not to the batch.

Candidate ``i`` of question ``q`` gets its own 32-bit seed (``seeds.candidate_seed``) and its own
random stream: a CPU Mersenne-Twister generator seeded with it. At each decoding step its token is
``argmax(logits / T + Gumbel noise)`` (the Gumbel-max trick, an exact sample from ``softmax(logits / T)``),
with the noise drawn from that stream. So a candidate does not depend on its batch, its worker or what was
cached, and since the noise is drawn on the CPU and then moved, it is the same on CPU and GPU.

``top_k`` and ``top_p`` restrict the support first (tokens outside it get ``-inf``, so the Gumbel-max
sample is exact for the renormalised restricted distribution). Nothing else touches the logits.
(A vectorised integer hash of (seed, step, token) did the same job but cost 5x more per step.)
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from selfdisc_checks.records import Sampling


def gumbel_noise(generators: list[torch.Generator], vocab_size: int) -> torch.Tensor:
    """The next (rows, vocab) block of Gumbel noise, row ``r`` drawn from ``generators[r]`` alone."""
    uniform = torch.stack([torch.rand(vocab_size, generator=g) for g in generators])
    # rand is in [0, 1); keep u strictly inside (0, 1) so both logs are finite.
    uniform.clamp_(min=torch.finfo(torch.float32).tiny, max=1.0 - torch.finfo(torch.float32).eps)
    return -torch.log(-torch.log(uniform))


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


class SeededGumbelSampler(LogitsProcessor):
    """Turns greedy decoding into seeded sampling (temperature 0 keeps it greedy: plain argmax).

    ``generate`` calls it once per step for every row, so row ``r``'s k-th draw always serves its k-th token.
    """

    def __init__(self, seeds: list[int], sampling: Sampling) -> None:
        self.sampling = sampling
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return self.perturb(range(len(self.generators)), scores)

    def perturb(self, rows: range | list[int], scores: torch.FloatTensor) -> torch.FloatTensor:
        """``scores`` (one line per entry of ``rows``) ready for argmax, each drawing from its own row's stream:
        a decoder that drops finished rows asks only for the rows still running, and each row's k-th draw still
        serves its k-th token."""
        s = self.sampling
        if s.temperature == 0:
            return scores
        logits = restrict(scores.to(torch.float32) / s.temperature, s.top_k, s.top_p)
        noise = gumbel_noise([self.generators[r] for r in rows], scores.shape[-1]).to(scores.device)
        return logits + noise
