"""Final-answer extraction: the forms GSM8K models write, normalised and compared numerically."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.scoring.numbers import (
    all_numbers,
    extract_flexible,
    extract_number,
    extract_strict,
    normalize_number,
    numbers_equal,
)

integers = st.integers(min_value=-(10**9), max_value=10**9)


def with_thousands(value: int) -> str:
    return f"{value:,}"


@pytest.mark.parametrize(
    "text",
    [
        "#### 18",
        "so she makes 18 dollars.\n#### 18",
        "The answer is 18.",
        "A: 18",
        "Answer: 18",
        r"\boxed{18}",
        "18",
        " 18\n",
    ],
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


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False))
def test_decimal_forms_compare_numerically(value):
    assert numbers_equal(f"{value}", f"{value:.2f}")
    assert numbers_equal(f"{value:.2f}0", str(value))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is 18 - 2 = 16.", "16"),
        ("The answer is 180 / 3 = 60 meters.", "60"),
        ("The answer is $1,000.00.", "1000"),
        ("The answer is **42**.", "42"),
        ("The answer is: 7", "7"),
        ("Answer: 5 + 3 = 8", "8"),
        ("#### 3 + 4 = 7", "7"),
        ("A: 2 * 3 = 6", "6"),
        ("The answer is 3 + 4, which equals 7.", "7"),
        ("The answer is 20 and it took 3 hours.", "20"),
        ("The answer is 7 (3 + 4).", "7"),
        ("The answer is 25% of 80 = 20.", "20"),
        ("The answer is 18.5. She has 3 left.", "18.5"),
        ("The answer is 16\nbecause 18 - 2 = 16 and 4 more", "16"),
        ("The answer is -5.", "-5"),
        ("The answer is 18 -2 = 16.", "16"),
        ("The answer is \\boxed{9}", "9"),
    ],
)
def test_an_answer_statement_gives_its_final_value(text, expected):
    assert extract_number(text) == (expected, "strict")


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("It is 180 - 30", ["180", "30"]),
        ("It is 180-30", ["180", "30"]),
        ("It is 180 -30", ["180", "30"]),
        ("(3)-2 and x-5", ["3", "2", "5"]),
        ("$10-$5", ["10", "5"]),
        ("-5 degrees", ["-5"]),
        ("It is -5 now", ["-5"]),
        ("so (-5) is it", ["-5"]),
        ("x = -5", ["-5"]),
        ("The loss is -$1,200.50", ["-1200.5"]),
        ("- 30 is not negative", ["30"]),
        ("2 * -3 = -6", ["2", "-3", "-6"]),
    ],
)
def test_a_minus_between_operands_is_subtraction(text, numbers):
    assert all_numbers(text) == numbers


def test_subtraction_is_never_a_negative_answer():
    assert extract_flexible("It is 180 - 30") == "30"
    assert extract_number("She had 180 and gave away 30, so 180-30") == ("30", "flexible")
    assert extract_strict("- 30") is None


naturals = st.integers(min_value=0, max_value=10**9)


@given(naturals, naturals, st.sampled_from([" - ", "-", " -"]))
def test_a_minus_b_ends_with_b(a, b, minus):
    assert extract_flexible(f"{a}{minus}{b}") == str(b)
    assert all_numbers(f"{a}{minus}{b}") == [str(a), str(b)]


@given(st.lists(integers, min_size=2, max_size=4), st.sampled_from(["+", "-", "*", "/"]), integers)
def test_the_result_of_a_chain_is_the_answer(operands, op, result):
    chain = f" {op} ".join(str(v) for v in operands)
    assert extract_strict(f"Some work. The answer is {chain} = {result}.") == str(result)
    assert extract_strict(f"#### {chain} = {result}") == str(result)


@given(naturals.map(lambda n: n + 1), st.sampled_from(["is -{}.", "is -{}", "= -{}.", "(-{})", "-{} degrees"]))
def test_negative_numbers_round_trip(value, template):
    text = "So the temperature " + template.format(value)
    assert extract_flexible(text) == str(-value)
    assert extract_number(f"The answer is -{value}.") == (str(-value), "strict")
