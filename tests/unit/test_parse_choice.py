"""Reading the model's choice: only an explicit final choice on the last line counts, never a wrong option."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.discrimination.parse import ParsedChoice, format_label, parse_choice, parse_label, read_choice

N = 4

VALID = [
    ("2", 1),
    ("(2)", 1),
    ("### 2", 1),
    ("###2", 1),
    ("### (2)", 1),
    ("**2**", 1),
    ("`2`", 1),
    ("*2*", 1),
    ("2.", 1),
    ("Answer: 2", 1),
    ("Answer: (2)", 1),
    ("**Answer:** (2)", 1),
    ("answer: (2).", 1),
    ("Option 2", 1),
    ("Option (2)", 1),
    ("Option 2.", 1),
    ("OPTION 2", 1),
    ("The answer is (2).", 1),
    ("The final answer is option 2.", 1),
    ("The final choice is 2", 1),
    ("The final choice is: (2)", 1),
    ("Therefore, the final choice is: 2", 1),
    ("Therefore, the final choice is ### 2", 1),
    ("Final choice: 2", 1),
    ("I choose option 2", 1),
    ("I choose (2)", 1),
    ("My choice is 2", 1),
    ("The best option is (2).", 1),
    ("The correct option is 2.", 1),
    ("Choice: 2", 1),
    ("Option 2, i.e. (2)", 1),
    ("Option (2) is correct.", 1),
    ("(1)", 0),
    ("### 4", 3),
    # The paper's GSM8K structure: the decision line after the closing phrase.
    ("Therefore, the final choice is:\n### 2", 1),
    (
        "Option (1) is wrong because 3 + 4 is not 8.\nOption (3) adds wrongly.\nTherefore, the final choice is:\n### 2",
        1,
    ),
    ("Answer: (1)\nAnswer: (3)", 2),
    ("(1) 3 + 4 = 7\n(2) 3 + 4 = 8\nThe final choice is (1)\n\n", 0),
    # A last line that only affirms confirms the line before it: a statement, or an answer echoing its option
    # (CommonsenseQA: the option's text is the candidate's own letter answer).
    ("Answer (4), C. kill animals\n\nThis is the correct answer.", 3),
    ("Answer: (2)\nThis is the correct answer.", 1),
    ("The final choice is (2)\nThat is right.", 1),
    ("Answer: option 2 - 48 - 30 = 18\nSo this is the right one.", 1),
]

INVALID = [
    # A label followed by content is a re-listed option (SmolLM2-135M-Instruct on GSM8K).
    ("(2) The robe takes 2 bolts of blue fiber and half that much white fiber, so 2 + 1 = 3.", "no_label"),
    ("In option (2), 48 - 30 = 18.", "no_label"),
    ("So she picks 3 apples.", "no_label"),
    ("I am not sure.", "no_label"),
    ("Therefore, the final choice is:", "no_label"),
    ("Option (2) is wrong because it adds.\nTherefore, the final choice is:", "no_label"),
    ("(2) is right\nbut I cannot decide", "no_label"),
    ("So 3 * 4 = 12.", "no_label"),
    ("### 2\nbecause it is right", "no_label"),
    ("(2) 48 - 30 = 18", "no_label"),
    ("(2", "no_label"),
    ("Answer: (1)\nOn reflection, answer: (3)", "no_label"),
    ("2.5", "no_label"),
    # An echo is final only when affirmed; an echo that names another option or negates is never read.
    ("Answer (4), C. kill animals", "no_label"),
    ("(4) kill animals\nThis is the correct answer.", "no_label"),
    ("Answer (4), not (2)\n\nThis is the correct answer.", "no_label"),
    ("Answer (4), the same as option 2\nThis is the correct answer.", "no_label"),
    ("Answer (4), which is wrong\nThis is the correct answer.", "no_label"),
    ("Answer (4), it isn't\nThis is the correct answer.", "no_label"),
    ("This is the correct answer.", "no_label"),
    ("(1) or (3)", "ambiguous"),
    ("Options 1 and 3 are both right", "ambiguous"),
    ("2 or 3", "ambiguous"),
    ("1, 2, 3 or 4", "ambiguous"),
    ("(1), (2), (3) or (4)", "ambiguous"),
    ("Give the option number: 1, 2, 3, or 4.", "ambiguous"),
    ("The answer is (1) or (3).", "ambiguous"),
    ("Option 2, i.e. (3)", "ambiguous"),
    ("Answer: (1) or (3)\nThis is the correct answer.", "ambiguous"),
    ("(7)", "out_of_range"),
    ("### 0", "out_of_range"),
    ("Option 5", "out_of_range"),
    ("Answer: 20", "out_of_range"),
    ("Answer (7), kill animals\nThis is the correct answer.", "out_of_range"),
    ("", "empty"),
    ("  \n\t\n", "empty"),
]

VALUES = [
    ("The answer is 20.", "20"),
    ("The answer is $20.", "20"),
    ("#### 20", "20"),
    ("The answer is 3.", "3"),
    ("The answer is **42**.", "42"),
    ("So the answer is $1,000.00.", "1000"),
    ("Answer: 5 + 3 = 8", "8"),
    ("The answer is 18 - 2 = 16.", "16"),
    ("The final answer is: 7.5", "7.5"),
]


@pytest.mark.parametrize("output, index", VALID)
def test_explicit_final_choices_are_read(output, index):
    assert read_choice(output, N) == ParsedChoice(index, None)
    assert parse_choice(output, N) == index


@pytest.mark.parametrize("output, reason", INVALID)
def test_anything_else_is_invalid_with_its_reason(output, reason):
    parsed = read_choice(output, N)
    assert (parsed.index, parsed.reason) == (None, reason)
    assert parse_choice(output, N) is None
    # An out-of-range number is kept as a stated value (for s_disc_value_matched); nothing else has one.
    stated = re.search(r"\d+", output)
    assert parsed.value == (str(int(stated.group())) if reason == "out_of_range" else None)


@pytest.mark.parametrize("output, value", VALUES)
def test_a_value_instead_of_a_label_is_invalid_and_keeps_the_value(output, value):
    assert read_choice(output, N) == ParsedChoice(None, "value_not_label", value)


def test_truncation_overrides_the_reason_but_not_a_valid_choice():
    assert read_choice("Option (1) is wrong because 3 + 4 is", N, truncated=True) == ParsedChoice(None, "truncated")
    assert read_choice("The answer is 20", N, truncated=True) == ParsedChoice(None, "truncated")
    assert read_choice("Therefore, the final choice is:\n### 2", N, truncated=True) == ParsedChoice(1, None)


def test_compatibility_names():
    assert format_label(0) == "(1)"
    assert parse_choice(format_label(3), N) == 3
    assert parse_label("Answer: (3)", N) == parse_choice("Answer: (3)", N) == 2


# Templates of an explicit final choice; "{}" is the 1-based label.
TEMPLATES = [
    "{}",
    "({})",
    "### {}",
    "###{}",
    "### ({})",
    "**{}**",
    "Answer: {}",
    "Answer: ({})",
    "Option {}",
    "Option ({})",
    "Option {}.",
    "The answer is ({}).",
    "The final choice is {}",
    "The final choice is: ({})",
    "Therefore, the final choice is: {}",
    "Therefore, the final choice is ### {}",
    "Final choice: {}",
    "I choose option {}",
    "I choose ({})",
    "My choice is {}",
    "The best option is ({}).",
    "The correct option is {}.",
    "Choice: {}",
    "Therefore, the final choice is:\n### {}",
]

reasoning = st.text(alphabet=st.sampled_from("abcxyz ().,:;#*-+=$\n0123456789"), max_size=80)


@given(st.integers(min_value=1, max_value=16), st.data())
def test_any_template_after_any_reasoning_round_trips(n_options, data):
    index = data.draw(st.integers(min_value=0, max_value=n_options - 1))
    template = data.draw(st.sampled_from(TEMPLATES))
    output = f"{data.draw(reasoning).rstrip()}\n{template.format(index + 1)}"
    assert parse_choice(output, n_options) == index


@given(st.integers(min_value=1, max_value=12), st.data())
def test_no_choice_without_a_number_in_range(n_options, data):
    out_of_range = st.one_of(st.just(0), st.integers(min_value=n_options + 1, max_value=10**6)).map(str)
    token = st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ().,:;#*`-+=$!?", min_size=1, max_size=8),
        st.sampled_from(["\n", "Option", "Answer:", "The final choice is", "###", "(", ")"]),
        out_of_range,
        out_of_range.map(lambda n: f"({n})"),
    )
    tokens = data.draw(st.lists(token, max_size=20))
    assert parse_choice(" ".join(tokens), n_options) is None


@given(st.integers(min_value=1, max_value=12), st.text(max_size=60), st.booleans())
def test_the_result_is_none_or_in_range(n_options, output, truncated):
    parsed = read_choice(output, n_options, truncated)
    assert parsed.index is None or 0 <= parsed.index < n_options
    assert (parsed.index is None) != (parsed.reason is None)


def test_with_letter_labels_an_echo_that_names_a_letter_is_not_read():
    """In letters format the echo "C. kill animals" names option C beside (D): two options, so no pick."""
    echo = "Answer (D), C. kill animals\nThis is the correct answer."
    assert read_choice(echo, N, label_format="letters") == ParsedChoice(None, "no_label")
    assert read_choice("Answer (D), kill animals\nThis is the correct answer.", N, label_format="letters") == (
        ParsedChoice(3, None)
    )
