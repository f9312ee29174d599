"""Reading the chosen option off the last line of a discrimination output."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.discrimination.parse import format_label, parse_label

TEMPLATES = ["{}", "({})", "Answer: ({})", "Answer: {}", "The answer is ({}).", "Option {}", "I choose option ({})"]


@given(st.integers(min_value=1, max_value=16), st.data())
def test_valid_labels_round_trip(n_options, data):
    index = data.draw(st.integers(min_value=0, max_value=n_options - 1))
    template = data.draw(st.sampled_from(TEMPLATES))
    reasoning = data.draw(st.text(alphabet="abc .,\n", max_size=40))
    output = f"{reasoning}\n{template.format(index + 1)}"
    assert parse_label(output, n_options) == index


@given(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=40))
def test_out_of_range_is_invalid(n_options, number):
    expected = number - 1 if 1 <= number <= n_options else None
    assert parse_label(f"({number})", n_options) == expected


@pytest.mark.parametrize(
    "output", ["", "\n\n", "I am not sure.", "(2) is right\nbut I cannot decide", "The answer is 4.", "So 3 * 4 = 12."]
)
def test_missing_label_is_invalid(output):
    assert parse_label(output, 4) is None


def test_the_last_line_decides():
    assert parse_label("Answer: (1)\nOn reflection, answer: (3)", 4) == 2


def test_format_label_is_one_based():
    assert format_label(0) == "(1)"
    assert parse_label(format_label(3), 4) == 3
