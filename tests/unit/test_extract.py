"""Final-answer extraction: the forms GSM8K models write, normalised and compared numerically."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.scoring.numbers import extract_flexible, extract_number, extract_strict, normalize_number, numbers_equal

integers = st.integers(min_value=-10**9, max_value=10**9)


def with_thousands(value: int) -> str:
    return f"{value:,}"


@pytest.mark.parametrize(
    "text",
    ["#### 18", "so she makes 18 dollars.\n#### 18", "The answer is 18.", "A: 18", "Answer: 18", r"\boxed{18}", "18", " 18\n"],
)
def test_strict_forms(text):
    assert extract_strict(text) == "18"


def test_money_is_normalised():
    assert extract_number("The answer is $1,000.00.") == ("1000", "strict")
    assert normalize_number("$1,000.00") == Decimal(1000)


def test_last_number_is_the_flexible_fallback():
    assert extract_number("First 3 apples, then 4 more, 7 in all") == ("7", "flexible")


def test_strict_prefers_the_last_explicit_answer():
    assert extract_strict("The answer is 5. Wait, recount. The answer is 6.") == "6"


def test_no_number():
    assert extract_number("I do not know") == (None, "none")
    assert not numbers_equal(None, "3")


@given(integers)
def test_hash_answer_round_trips(value):
    assert extract_strict(f"work shown here\n#### {value}") == str(value)


@given(integers, st.sampled_from(["The answer is {}.", "Answer: {}", "#### {}", r"\boxed{{{}}}"]))
def test_thousands_separators_and_currency(value, template):
    text = template.format(("-$" if value < 0 else "$") + with_thousands(abs(value)))
    assert numbers_equal(extract_strict(text), str(value))


@given(st.lists(integers, min_size=1, max_size=6))
def test_flexible_takes_the_last_number(values):
    text = " then ".join(f"x{i} = {v}" for i, v in enumerate(values))
    assert extract_flexible(text) == str(values[-1])


@given(st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False))
def test_decimal_forms_compare_numerically(value):
    assert numbers_equal(f"{value}", f"{value:.2f}")
    assert numbers_equal(f"{value:.2f}0", str(value))
