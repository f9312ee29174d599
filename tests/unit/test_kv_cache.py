"""The growing KV-cache layer holds exactly what transformers' DynamicLayer holds, through every operation
the decoder performs on it (appending, dropping finished rows, trimming padding, copying a prompt's cache to
its rows), while writing new positions in place."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.cache_utils import DynamicLayer

from selfdisc_checks.backends.decoder import _growing_layer_class, cache_capacity

HEADS, DIM = 2, 3

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 40)),
        st.tuples(st.just("select"), st.integers(0, 2**16)),
        st.tuples(st.just("trim"), st.integers(0, 5)),
        st.tuples(st.just("repeat"), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=25,
)


def states(rows: int, positions: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, HEADS, positions, DIM, generator=generator)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), prefill=st.integers(1, 30), steps=operations)
def test_a_growing_layer_holds_what_the_plain_layer_holds(rows, prefill, steps):
    plain, growing = DynamicLayer(), _growing_layer_class()()
    for layer in (plain, growing):
        out = layer.update(states(rows, prefill, 0), states(rows, prefill, 1))
        assert torch.equal(out[0], states(rows, prefill, 0))
    for number, (kind, value) in enumerate(steps, start=2):
        if kind == "append":
            new = [states(plain.keys.shape[0], value, 2 * number), states(plain.keys.shape[0], value, 2 * number + 1)]
            outputs = [layer.update(*new) for layer in (plain, growing)]
            assert all(torch.equal(a, b) for a, b in zip(*outputs, strict=False))
        elif kind == "select":
            count = plain.keys.shape[0]
            keep = torch.tensor([i for i in range(count) if value >> i & 1] or [0])
            for layer in (plain, growing):
                layer.batch_select_indices(keep)
        elif kind == "trim":
            cut = min(value, plain.keys.shape[-2] - 1)
            for layer in (plain, growing):
                layer.keys, layer.values = layer.keys[:, :, cut:], layer.values[:, :, cut:]
        else:
            for layer in (plain, growing):
                layer.batch_repeat_interleave(value)
        assert torch.equal(plain.keys, growing.keys) and torch.equal(plain.values, growing.values), (kind, value)
        assert plain.get_seq_length() == growing.get_seq_length()


def test_a_decoding_step_writes_in_place_and_room_stays_within_a_quarter():
    layer = _growing_layer_class()()
    layer.update(states(4, 100, 0), states(4, 100, 1))
    layer.update(states(4, 1, 2), states(4, 1, 3))  # the first step makes room
    buffer = layer._buffers["keys"]
    assert buffer.shape[-2] == cache_capacity(101) <= 101 + max(16, 101 // 4)
    for step in range(cache_capacity(101) - 101):
        layer.update(states(4, 1, 10 + step), states(4, 1, 11 + step))
        assert layer._buffers["keys"] is buffer  # no copy while there is room
    layer.update(states(4, 1, 999), states(4, 1, 998))
    assert layer._buffers["keys"] is not buffer and layer.get_seq_length() == cache_capacity(101) + 1
    assert all(cache_capacity(n) - n <= 256 for n in (10, 1000, 10**6))


def test_cropping_to_a_prefix_keeps_the_room():
    layer = _growing_layer_class()()
    layer.update(states(2, 50, 0), states(2, 50, 1))
    layer.update(states(2, 1, 2), states(2, 1, 3))
    buffer = layer._buffers["keys"]
    layer.crop(-1)  # back to the 50 prefilled positions
    assert layer._buffers["keys"] is buffer and torch.equal(layer.keys, states(2, 50, 0))
    layer.update(states(2, 1, 4), states(2, 1, 5))
    assert layer._buffers["keys"] is buffer and torch.equal(layer.keys[:, :, -1:], states(2, 1, 4))
