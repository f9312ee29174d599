"""The continuous-batching decoder without a checkpoint: a toy attention model (one layer, a real transformers
DynamicCache, exact float64 arithmetic) is decoded with every batch width, so rows joining a running batch
(left-padded caches spliced together), finished rows leaving it and trimmed padding must all give exactly the
tokens of decoding each prompt alone with no cache at all. Also the batch halving and stop-string helpers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import LlamaConfig

from selfdisc_checks.backends.decoder import Decoder, _cut_at_stop, _halves, _StopWatch
from selfdisc_checks.backends.sampler import SeededSampler
from selfdisc_checks.records import DecodeSpec, Sampling

VOCAB, DIM, EOS, PAD = 13, 6, 0, 1


class ToyModel(torch.nn.Module):
    """One attention layer over token and position embeddings: the next token depends on the whole prefix and
    on the positions, so a misplaced cache entry, mask column or position changes what is sampled."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.embed = torch.randn(VOCAB, DIM, generator=generator, dtype=torch.float64)
        self.where = torch.randn(64, DIM, generator=generator, dtype=torch.float64)
        self.out = torch.randn(DIM, VOCAB, generator=generator, dtype=torch.float64) * 3
        self.config = LlamaConfig(
            num_hidden_layers=1, hidden_size=DIM, num_attention_heads=1, num_key_value_heads=1, vocab_size=VOCAB
        )
        self.generation_config = SimpleNamespace(eos_token_id=EOS)

    def forward(self, input_ids, attention_mask, position_ids, past_key_values=None, use_cache=True, logits_to_keep=0):
        states = self.embed[input_ids] + self.where[position_ids]  # [rows, new, dim]
        new = states.shape[1]
        keys, values = past_key_values.update(states[:, None], states[:, None], 0)  # [rows, 1, all, dim]
        total = keys.shape[2]
        scores = states[:, None] @ keys.transpose(-1, -2)  # [rows, 1, new, all]
        causal = torch.arange(total)[None, :] <= (total - new + torch.arange(new))[:, None]
        allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
        weights = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
        mixed = (weights @ values)[:, 0]  # [rows, new, dim]
        logits = mixed @ self.out
        logits[..., EOS] += 1.5  # rows end at different steps, so waiting rows join a running batch
        return SimpleNamespace(
            logits=logits[:, -logits_to_keep:] if logits_to_keep else logits, past_key_values=past_key_values
        )


class ToyDecoder(Decoder):
    def __init__(self) -> None:
        self.model = ToyModel()
        self.tokenizer = SimpleNamespace(eos_token_id=EOS, decode=letters)
        self.device, self.listener, self.memory_budget = "cpu", None, None
        self.counters = {"prompt_tokens": 0, "generated_tokens": 0, "row_steps": 0, "steps": 0, "splits": 0}

    @property
    def is_encoder_decoder(self) -> bool:
        return False

    @property
    def uses_chat_template(self) -> bool:
        return False


def letters(tokens: list[int], skip_special_tokens: bool = True) -> str:
    return "".join(chr(96 + t) for t in tokens)


def left_padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, prompts))
    ids = torch.tensor([[PAD] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def without_cache(prompt: list[int], seed: int, limit: int, stop: str) -> tuple[list[int], bool]:
    """The reference: the whole sequence through the model at every step, nothing cached."""
    from transformers import DynamicCache

    model, sampler = ToyModel(), SeededSampler([seed], Sampling(1.0))
    tokens: list[int] = []
    while len(tokens) < limit:
        sequence = torch.tensor([prompt + tokens])
        out = model(sequence, torch.ones_like(sequence), torch.arange(sequence.shape[1])[None], DynamicCache())
        token = int(sampler.choose(torch.tensor([0]), out.logits[:, -1, :])[0])
        if token == EOS:
            return tokens, True
        tokens.append(token)
        if stop and stop in letters(tokens):
            break
    return tokens, False


prompt_lists = st.lists(st.lists(st.integers(2, VOCAB - 1), min_size=2, max_size=7), min_size=1, max_size=4)


@settings(max_examples=15, deadline=None)
@given(
    prompts=prompt_lists,
    rows_each=st.integers(1, 3),
    width=st.integers(1, 8),
    limit=st.integers(1, 8),
    stop=st.sampled_from(["", "e", "ck"]),
)
def test_every_batch_width_decodes_what_each_prompt_gives_alone_without_a_cache(prompts, rows_each, width, limit, stop):
    ids, mask = left_padded(prompts)
    index = torch.tensor([p for p in range(len(prompts)) for _ in range(rows_each)])
    seeds = [1000 + 17 * row for row in range(len(index))]
    finished: dict[int, tuple[list[int], bool]] = {}
    decoder = ToyDecoder()
    tokens, ended = decoder._decode(
        ids,
        mask,
        index,
        SeededSampler(seeds, Sampling(1.0)),
        DecodeSpec(max_new_tokens=limit, stop=(stop,) if stop else ()),
        width,
        lambda row, row_tokens, saw_eos: finished.setdefault(row, (list(row_tokens), saw_eos)),
    )
    expected = [without_cache(prompts[int(p)], seed, limit, stop) for p, seed in zip(index, seeds, strict=True)]
    assert list(zip(tokens, ended, strict=True)) == expected
    assert [finished[row] for row in range(len(index))] == expected  # each row is reported once, as it ends
    assert decoder.counters["generated_tokens"] == sum(len(t) + e for t, e in expected)


@given(st.lists(st.integers(0, 5), min_size=2, max_size=20))
def test_a_batch_halves_by_prompts_when_it_has_several(rows):
    first, second = _halves(rows)
    assert sorted(first + second) == list(range(len(rows))) and first and second
    if len(set(rows)) > 1:  # a prompt's rows stay on one side (they share its prefill)
        assert not {rows[p] for p in first} & {rows[p] for p in second}


def test_stop_strings_cut_at_the_first_and_are_seen_in_the_last_tokens():
    assert _cut_at_stop("a\nb</s>c", ("</s>", "\n")) == "a"
    assert _cut_at_stop("abc", ()) == "abc"
    tokenizer = SimpleNamespace(decode=letters)
    watch: Any = _StopWatch(tokenizer, ("cd",))
    assert not watch.hit([1, 2, 3]) and watch.hit([1, 2, 3, 4]) and not _StopWatch(tokenizer, ()).hit([3, 4])


class ToyTokenizer(SimpleNamespace):
    """Letters in, token ids out (``a`` is 1 ... ``m`` is 13), left-padded batches."""

    def __call__(self, texts, return_tensors="pt", padding=True, add_special_tokens=True):
        ids, mask = left_padded([[ord(c) - 96 for c in text] for text in texts])
        return SimpleNamespace(to=lambda device: {"input_ids": ids, "attention_mask": mask})


class Heard:
    """A progress listener that records what the decoder tells it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def tokens(self, count: int) -> None:
        self.events.append(("tokens", count))

    def row_done(self, tokens: int) -> None:
        self.events.append(("row_done", tokens))

    def token_limit(self, limit: int) -> None:
        self.events.append(("token_limit", limit))


@settings(max_examples=10, deadline=None)
@given(prompts=prompt_lists, rows_each=st.integers(1, 3), width=st.integers(1, 8), limit=st.integers(1, 8))
def test_the_listener_hears_of_every_row_as_it_ends_after_its_tokens(prompts, rows_each, width, limit):
    """Progress moves row by row within one batch: each finished row is told once, with its tokens (eos
    included), and never before the tokens it decoded were counted."""
    decoder = ToyDecoder()
    decoder.tokenizer = ToyTokenizer(eos_token_id=EOS, decode=letters)
    decoder.listener = heard = Heard()
    texts = ["".join(chr(96 + t) for t in prompt) for prompt in prompts]
    rows = [p for p in range(len(prompts)) for _ in range(rows_each)]
    decoder._generate_batch(
        texts, rows, [1000 + 17 * r for r in range(len(rows))], Sampling(1.0), DecodeSpec(limit), width
    )
    assert heard.events[0] == ("token_limit", limit)
    finished = [count for what, count in heard.events if what == "row_done"]
    assert len(finished) == len(rows) and all(1 <= count <= limit + 1 for count in finished)
    told = 0
    for what, count in heard.events[1:]:
        if what == "tokens":
            told += count
        else:
            told -= count  # a row's tokens were all told before the row
            assert told >= 0
    assert sum(finished) == decoder.counters["generated_tokens"]
