"""The discrimination prompt's ablations as task options: each changes what the model reads (and so the cache
key), is recorded, and is checked; with every default the prompt is exactly what it was before them."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.discrimination.ablations import CONSISTENCY_INSTRUCTION, INSTRUCTIONS
from selfdisc_checks.discrimination.parse import format_label, label_text, parse_choice, read_choice
from selfdisc_checks.discrimination.prompt import DiscriminationDemo, demo_response
from selfdisc_checks.discrimination.verbatim import read_verbatim, written_answer
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.metrics import majority_agreement, task_metrics
from selfdisc_checks.pipeline import _choice, prompt_digest
from selfdisc_checks.records import Candidate, Choice, Completion, Example, QuestionResult
from selfdisc_checks.tasks.arithmetic import ArithmeticTask
from selfdisc_checks.tasks.commonsenseqa import CommonsenseQATask
from selfdisc_checks.tasks.gsm8k import GSM8KTask
from selfdisc_checks.tasks.mtbench import MTBenchTask
from selfdisc_checks.tasks.triviaqa import TriviaQATask
from selfdisc_checks.tasks.truthfulqa import TruthfulQATask

CLASSES = {
    "arithmetic": ArithmeticTask,
    "gsm8k": GSM8KTask,
    "truthfulqa": TruthfulQATask,
    "mtbench": MTBenchTask,
    "triviaqa": TriviaQATask,
    "commonsenseqa": CommonsenseQATask,
}
VARIANTS = [("arithmetic", "compact")] + [
    (name, variant) for name in CLASSES if name != "arithmetic" for variant in ("paper", "compact")
]
CANDIDATES = ["The total is 4 * 3 = 12.\n#### 12", "B. bank", "It passes through.\n\nSecond line  ", "  "]
EXAMPLE = Example("q-1", "How many apples are left?", "12", meta={"choices": {"A": "river", "B": "bank", "C": "shop"}})
# The default prompts of every built-in task and variant, pinned before the ablations existed: the cache keys
# (prompt digests) and the fixture checkpoint's trained behaviour depend on them.
DEFAULT_PIN = "02cdeb4410bd609a97f0dfc20e7b356143edcb9f7ba5377917c4e14f2c950bfb"
ALL_DEFAULTS = dict(
    discrimination_cot=True, label_format="numbers", discrimination_mode="label", show_reasoning=True, selector="choose"
)


def build(name: str, variant: str | None = None, **options):
    if variant is not None:
        options["discrimination_prompt"] = variant
    return CLASSES[name](**options)


def example_for(task):
    return task.load(1)[0] if task.name == "arithmetic" else EXAMPLE


def prompt_of(task, candidates=CANDIDATES):
    return task.discrimination_prompt_for(example_for(task), candidates)


# --- With every default, nothing changes --------------------------------------------------------------------


def test_default_prompts_match_the_pin():
    record = {
        f"{name}:{variant}": {
            "prompt": asdict(prompt_of(build(name, variant))),
            "likelihood": list(build(name, variant).label_continuations(4)),
        }
        for name, variant in VARIANTS
    }
    assert hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest() == DEFAULT_PIN


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_defaults_given_explicitly_change_nothing(name, variant):
    plain = build(name, variant)
    explicit = build(name, variant, discrimination_demos=len(plain.discrimination_demos()), **ALL_DEFAULTS)
    assert prompt_of(explicit) == prompt_of(plain)
    assert explicit.describe() == plain.describe() and explicit.protocol() == plain.protocol()
    assert explicit.label_continuations(4) == plain.label_continuations(4)
    demos = plain.discrimination_demos()
    assert [demo_response(d) for d in demos] == [d.response for d in demos]


def test_worked_demonstrations_render_their_former_responses():
    assert GSM8KTask(discrimination_prompt="compact").discrimination_demos()[0].response == (
        "Option 2 multiplies the pens by the sheep per pen and subtracts correctly.\nAnswer: (2)"
    )
    assert ArithmeticTask().discrimination_demos()[0].response == "(2)"
    assert TriviaQATask().discrimination_demos()[1].response.startswith("Answers (1) and (4), Aldous Huxley")


# --- Each option changes the prompt, the record and the cache key --------------------------------------------

ABLATIONS = [
    dict(discrimination_demos=1),
    dict(discrimination_cot=False),
    dict(label_format="letters"),
    dict(discrimination_mode="verbatim"),
    dict(show_reasoning=False),
    dict(instruction="stepwise"),
    dict(instruction="Pick the right answer and say its number."),
    dict(selector="consistency"),
]


@pytest.mark.parametrize("options", ABLATIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())[:40])
@pytest.mark.parametrize("name", ["gsm8k", "triviaqa", "commonsenseqa"])
def test_every_option_changes_the_prompt_and_is_recorded(name, options):
    plain, ablated = build(name), build(name, **options)
    assert prompt_digest(prompt_of(ablated)) != prompt_digest(prompt_of(plain))
    ((option, value),) = options.items()
    assert ablated.describe()[option] == value
    assert ablated.protocol()["discrimination"][option] == value
    assert option not in plain.describe() and option not in plain.protocol()["discrimination"]


def test_arithmetic_takes_every_option_too():
    for options in [dict(discrimination_demos=0), *ABLATIONS[1:]]:  # its one demonstration is all by default
        task = ArithmeticTask(**options)
        assert task.protocol()["discrimination"][next(iter(options))] == next(iter(options.values()))


# --- discrimination_demos ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_demos_shows_the_first_ones(name, variant):
    available = build(name, variant).discrimination_demos()
    for count in range(len(available) + 1):
        task = build(name, variant, discrimination_demos=count)
        prompt = prompt_of(task)
        assert len(prompt.shots) == count == task.protocol()["discrimination"]["demonstrations"]
        assert [answer for _, answer in prompt.shots] == [d.response for d in available[:count]]


@pytest.mark.parametrize("value", [-1, 3, True, 1.0, "2"])
def test_demos_out_of_range_is_refused(value):
    with pytest.raises(
        SelfDiscError,
        match=r"^Task 'gsm8k': discrimination_demos must be a whole number from 0 to 2 "
        r"\(the demonstrations it has\), not .*\.$",
    ):
        GSM8KTask(discrimination_demos=value)


# --- discrimination_cot --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_without_cot_demonstrations_state_only_the_choice(name, variant):
    task = build(name, variant, discrimination_cot=False)
    for demo, (_, response) in zip(task.discrimination_demos(), prompt_of(task).shots, strict=True):
        label = demo.chosen + 1
        expected = {
            "paper": f"Therefore, the final choice is:\n### {label}",
            "compact": f"Answer: ({label})" if demo.reasoning else f"({label})",
        }[variant]
        assert response == expected


# --- label_format --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_letters_label_options_demonstrations_and_likelihood(name, variant):
    task = build(name, variant, label_format="letters")
    prompt = prompt_of(task)
    for user, response in [*prompt.shots, (prompt.query, None)]:
        assert not re.search(r"^\(\d\)", user, re.MULTILINE)
        assert re.search(r"^\(A\) ", user, re.MULTILINE)
        if response is not None:
            assert not re.search(r"\(\d\)|[Oo]ptions? \d|### \d", response), response
    for demo, (_user, response) in zip(task.discrimination_demos(), prompt.shots, strict=True):
        assert parse_choice(response, len(demo.options), label_format="letters") == demo.chosen
        assert parse_choice(response, len(demo.options)) is None
    lead, labels = task.label_continuations(3)
    assert labels == ([" A", " B", " C"] if variant == "paper" else ["(A)", "(B)", "(C)"])
    if name != "arithmetic":
        assert "letter" in task.discrimination_instruction and "number" not in task.discrimination_instruction


def test_letters_reasoning_follows_the_labels():
    task = GSM8KTask(label_format="letters")
    response = prompt_of(task).shots[1][1]
    assert response.startswith("Answer (A) charges the full $8") and "\nAnswer (D) charges" in response
    assert response.endswith("Therefore, the final choice is:\n### C")


def test_letters_stop_at_26_options():
    task = ArithmeticTask(label_format="letters")
    with pytest.raises(SelfDiscError, match=r"^Task 'arithmetic': label_format 'letters' labels at most 26 options"):
        task.discrimination_prompt_for(example_for(task), ["1"] * 27)
    with pytest.raises(SelfDiscError, match="at most 26 options"):
        task.label_continuations(27)


def test_letters_are_read_back_by_the_task():
    task = GSM8KTask(label_format="letters")
    assert task.read_discrimination("Therefore, the final choice is:\n### C", ["1", "2", "3"]).index == 2
    assert task.read_discrimination("### 3", ["1", "2", "3"]).reason == "no_label"


# --- discrimination_mode = verbatim --------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_verbatim_demonstrations_write_out_the_chosen_option(name, variant):
    task = build(name, variant, discrimination_mode="verbatim")
    for demo, (_, response) in zip(task.discrimination_demos(), prompt_of(task).shots, strict=True):
        chosen = demo.options[demo.chosen]
        shown = chosen.strip() if variant == "paper" else " ".join(chosen.split())
        assert response.endswith(shown) and "###" not in response.replace(shown, "")
        # and the task reads its own demonstration back to the chosen option
        answers = [task.extract(option)[0] for option in demo.options]
        parsed = task.read_discrimination(response, answers)
        if name != "mtbench":  # open answers have no extracted answer to match
            assert answers[parsed.index] == answers[demo.chosen]
    assert "full" in task.discrimination_instruction


def test_verbatim_matches_the_first_shown_candidate_with_the_written_answer():
    task = GSM8KTask(discrimination_mode="verbatim")
    output = "Answer (1) is wrong.\nTherefore, the final choice is:\nHe has 35 sheep, then 35 - 9 = 26.\n#### 26"
    assert task.read_discrimination(output, ["3", "26", "26"]).index == 1
    assert task.read_discrimination(output, ["3", "24"]) == read_verbatim(output, ["3", "24"], task.extract, "paper")
    assert task.read_discrimination(output, ["3", "24"]).reason == "no_match"
    assert task.read_discrimination(output, ["3", "24"]).value == "26"
    assert task.read_discrimination("I cannot tell.", ["3", "24"]).reason == "no_match"
    assert task.read_discrimination("  \n", ["3"]).reason == "empty"
    assert task.read_discrimination("Therefore, the final choice is:\nThe farmer", ["3"], truncated=True).reason == (
        "truncated"
    )
    assert task.read_discrimination("Therefore, the final choice is:\n#### 3", ["3"], truncated=True).index == 0


@pytest.mark.parametrize("output", ["(4)", "Option 4", "### 4", "Answer: (4)", "The final choice is (4)"])
def test_verbatim_does_not_read_a_label_as_the_answer(output):
    task = ArithmeticTask(discrimination_mode="verbatim")
    assert (
        task.read_discrimination(output, ["4", "5"])
        == read_verbatim(output, ["4", "5"], task.extract)
        == (read_verbatim(output, ["4", "5"], task.extract, "compact", False, "numbers"))
    )
    assert task.read_discrimination(output, ["4", "5"]).reason == "no_match"
    assert task.read_discrimination("4", ["5", "4"]).index == 1  # a bare number may be the answer itself
    assert (
        ArithmeticTask(discrimination_mode="verbatim", label_format="letters")
        .read_discrimination("(B)", ["4", "5"])
        .reason
        == "no_match"
    )


def test_verbatim_reads_after_the_last_marker():
    assert written_answer("Option 1 says 3.\nAnswer: 7*8=56", "compact") == "7*8=56"
    assert written_answer("no marker 12", "compact") == "no marker 12"
    assert written_answer("x\nTherefore, the final choice is:\nA\nTherefore, the final choice is:\nB", "paper") == "B"


def test_verbatim_pick_maps_back_through_the_shown_order():
    task = ArithmeticTask(discrimination_mode="verbatim")
    candidates = [Candidate(text, task.extract(text)[0], 0.0, "flexible") for text in ("5", "7", "7")]
    choice = _choice(task, Completion("3+4=7"), (2, 0, 1), candidates)
    assert choice.index == 2 and choice.reason is None  # the first shown candidate answering 7 is candidate 2
    assert _choice(task, Completion("3+4=9"), (0, 1, 2), candidates).reason == "no_match"


def test_verbatim_has_no_labels_for_likelihood():
    with pytest.raises(SelfDiscError, match=r"^Task 'gsm8k': discrimination_mode 'verbatim' has no option labels"):
        GSM8KTask(discrimination_mode="verbatim").label_continuations(4)


# --- show_reasoning ------------------------------------------------------------------------------------------


def test_without_reasoning_candidates_show_their_final_answer():
    task = GSM8KTask(show_reasoning=False)
    query = prompt_of(task, ["He has 5 * 7 = 35.\n35 - 9 = 26\n#### 26", "I give up.\nNo idea", ""]).query
    assert "(1) The answer is 26.\n\n(2) No idea\n\n(3) (empty)\n\n" in query
    for user, _ in prompt_of(task).shots:
        assert "<<" not in user and "(1) The answer is " in user


def test_without_reasoning_each_task_shows_its_extracted_answer():
    assert CommonsenseQATask(show_reasoning=False).final_answer_text("B. bank, because money") == "The answer is B."
    assert TriviaQATask(show_reasoning=False).final_answer_text("The Danube\nIt flows") == "The answer is danube."
    assert TruthfulQATask().final_answer_text("It passes through.") == "The answer is It passes through."
    assert MTBenchTask().final_answer_text("Line one.\n\nLine two.  \n") == "Line two."


# --- instruction ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", INSTRUCTIONS)
def test_named_instructions_close_with_the_layouts_sentence(name):
    paper, compact = GSM8KTask(instruction=name), GSM8KTask(instruction=name, discrimination_prompt="compact")
    assert paper.discrimination_instruction == (
        f'{INSTRUCTIONS[name]} End with the line "Therefore, the final choice is:" followed by a line "### <number '
        'of the correct answer>".'
    )
    assert compact.discrimination_instruction == f"{INSTRUCTIONS[name]} Give the option number on the last line."
    letters = GSM8KTask(instruction=name, discrimination_prompt="compact", label_format="letters")
    assert letters.discrimination_instruction.endswith("Give the option letter on the last line.")
    assert prompt_of(paper).query.endswith(paper.discrimination_instruction)
    assert all(user.endswith(paper.discrimination_instruction) for user, _ in prompt_of(paper).shots)


def test_a_custom_instruction_is_used_as_written():
    text = "Decide which answer is right; write its number last."
    assert prompt_of(TriviaQATask(instruction=text)).query.endswith(f"\n\n{text}")


@pytest.mark.parametrize("value", ["expert", "", 3])
def test_an_unknown_instruction_name_is_refused(value):
    with pytest.raises(
        SelfDiscError,
        match=r"^Task 'gsm8k': instruction must be one of plain, stepwise, grader or a "
        r"custom sentence of several words, not .*\.$",
    ):
        GSM8KTask(instruction=value)


def test_the_tasks_own_instruction_adapts_its_closing_sentence():
    assert TruthfulQATask(label_format="letters").discrimination_instruction.endswith(
        '"### <letter of the best answer>".'
    )
    assert GSM8KTask(discrimination_mode="verbatim").discrimination_instruction.endswith(
        "followed by the correct answer, copied out in full."
    )
    assert ArithmeticTask(label_format="letters").discrimination_instruction == "Which is correct?"


# --- selector = consistency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_consistency_asks_for_the_majority_without_demonstrations(name, variant):
    task = build(name, variant, selector="consistency")
    prompt = prompt_of(task)
    assert prompt.shots == () and task.protocol()["discrimination"]["demonstrations"] == 0
    assert prompt.query.endswith(task.discrimination_instruction)
    assert task.discrimination_instruction.startswith(CONSISTENCY_INSTRUCTION)
    closing = {
        "paper": '"### <number of the most consistent answer>".',
        "compact": "Give the option number on the last line.",
    }[variant]
    assert task.discrimination_instruction.endswith(closing)
    assert build(name, variant, selector="consistency", discrimination_demos=0).discrimination_instruction == (
        task.discrimination_instruction
    )


def test_consistency_refuses_demonstrations_and_another_instruction():
    with pytest.raises(SelfDiscError, match=r"^Task 'gsm8k': selector 'consistency' is asked without demonstrations"):
        GSM8KTask(selector="consistency", discrimination_demos=1)
    with pytest.raises(SelfDiscError, match=r"^Task 'gsm8k': selector 'consistency' has its own instruction"):
        GSM8KTask(selector="consistency", instruction="plain")


@pytest.mark.parametrize(
    "option, value, allowed",
    [
        ("label_format", "roman", "'numbers' or 'letters'"),
        ("discrimination_mode", "copy", "'label' or 'verbatim'"),
        ("selector", "vote", "'choose' or 'consistency'"),
    ],
)
def test_choices_are_checked(option, value, allowed):
    with pytest.raises(SelfDiscError, match=rf"^Task 'triviaqa': {option} must be {allowed}, not '{value}'\.$"):
        TriviaQATask(**{option: value})


@pytest.mark.parametrize("option", ["discrimination_cot", "show_reasoning"])
def test_switches_must_be_booleans(option):
    with pytest.raises(SelfDiscError, match=rf"^Task 'arithmetic': {option} must be true or false, not 'no'\.$"):
        ArithmeticTask(**{option: "no"})


# --- usc_majority_agreement ----------------------------------------------------------------------------------


def question(answers, index, scores=None):
    scores = scores or [1.0 if a == "2" else 0.0 for a in answers]
    candidates = tuple(
        Candidate(f"t{i}", a, s, "strict") for i, (a, s) in enumerate(zip(answers, scores, strict=False))
    )
    return QuestionResult("q", "?", "2", candidates, Choice("raw", index))


def test_majority_agreement_counts_picks_among_the_most_frequent_answers():
    questions = [
        question(["2", "2", "3"], 0),  # the majority answer: agrees
        question(["2", "2", "3"], 2),  # the minority: disagrees
        question(["1", "3", None], 1),  # a tie: any of the tied answers agrees
        question(["1", "1", None], 2),  # no extracted answer picked: disagrees
        question(["1", "2", "3"], None),  # no valid pick: left out
        question([None, None, None], 0),  # no answers to vote on: left out
    ]
    assert majority_agreement(questions) == 2 / 4
    assert majority_agreement(questions[4:]) is None


def test_majority_agreement_is_reported_for_answer_votes_only():
    questions = [question(["2", "2", "3"], 0), question(["2", "3", "3"], 0)]
    assert task_metrics(questions)["usc_majority_agreement"] == 0.5
    assert "usc_majority_agreement" not in task_metrics(questions, majority_by="consensus")


# --- letter labels in the parser -----------------------------------------------------------------------------

LETTER_VALID = [
    ("B", 1),
    ("(B)", 1),
    ("### B", 1),
    ("###B", 1),
    ("### (B)", 1),
    ("**B**", 1),
    ("B.", 1),
    ("Answer: B", 1),
    ("Answer: (B)", 1),
    ("Option B", 1),
    ("Option (B)", 1),
    ("OPTION B", 1),
    ("The answer is (B).", 1),
    ("The final answer is option B.", 1),
    ("The final choice is B", 1),
    ("Therefore, the final choice is:\n### B", 1),
    ("I choose option B", 1),
    ("I choose (B)", 1),
    ("My choice is B", 1),
    ("Choice: B", 1),
    ("Option B, i.e. (B)", 1),
    ("Option (B) is correct.", 1),
    ("A", 0),
    ("### D", 3),
]
LETTER_INVALID = [
    ("A coat keeps a person warm.", "no_label"),
    ("A windowsill gets the most sunlight, option B.", "no_label"),
    ("a", "no_label"),
    ("(b)", "no_label"),
    ("Options", "no_label"),
    ("OPTIONS", "no_label"),
    ("OptionB", "no_label"),
    ("The answer is B", "no_label"),
    ("### 2", "no_label"),
    ("(A) or (C)", "ambiguous"),
    ("Options A and C are both right", "ambiguous"),
    ("A, B, C or D", "ambiguous"),
    ("(F)", "out_of_range"),
    ("Option E", "out_of_range"),
    ("", "empty"),
]


@pytest.mark.parametrize("output, index", LETTER_VALID)
def test_letter_choices_are_read(output, index):
    assert read_choice(output, 4, label_format="letters").index == index
    assert parse_choice(output, 4, label_format="letters") == index


@pytest.mark.parametrize("output, reason", LETTER_INVALID)
def test_letter_non_choices_are_invalid_with_their_reason(output, reason):
    parsed = read_choice(output, 4, label_format="letters")
    assert parsed.index is None and parsed.reason == reason and parsed.value is None


def test_letter_labels_keep_values_and_defaults():
    assert read_choice("The answer is 20.", 4, label_format="letters").value == "20"
    assert format_label(1, "letters") == "(B)" and label_text(25, "letters") == "Z" and format_label(1) == "(2)"
    assert parse_choice("(2)", 4) == 1  # the default is still numbers
    with pytest.raises(ValueError):
        read_choice("A", 4, label_format="roman")


LETTER_TEMPLATES = [
    "{}",
    "({})",
    "### {}",
    "Answer: ({})",
    "Option {}",
    "The answer is ({}).",
    "I choose {}",
    "Therefore, the final choice is:\n### {}",
    "The final choice is: {}",
    "Final choice: ({})",
]
prose = st.text(alphabet=st.sampled_from("abcxyz AB().,:;#*-\n0123"), max_size=80)


@given(st.integers(min_value=1, max_value=26), st.data())
def test_any_letter_template_after_any_reasoning_round_trips(n_options, data):
    index = data.draw(st.integers(min_value=0, max_value=n_options - 1))
    output = f"{data.draw(prose).rstrip()}\n{data.draw(st.sampled_from(LETTER_TEMPLATES)).format(chr(65 + index))}"
    assert parse_choice(output, n_options, label_format="letters") == index


@given(st.integers(min_value=1, max_value=26), st.text(max_size=60), st.booleans())
def test_a_letter_reading_is_none_or_in_range(n_options, output, truncated):
    parsed = read_choice(output, n_options, truncated, label_format="letters")
    assert parsed.index is None or 0 <= parsed.index < n_options
    assert (parsed.index is None) != (parsed.reason is None)


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9)


@given(st.lists(words, min_size=1, max_size=8), st.sampled_from(["", ".", "!", ","]), st.booleans())
def test_the_article_a_in_prose_is_no_label(rest, end, lower_first):
    sentence = " ".join(["a" if lower_first else "A", *rest]) + end
    for line in (sentence, f"So {sentence}", f"Therefore, {sentence}", f"The final choice is {sentence}"):
        assert parse_choice(line, 26, label_format="letters") is None


# --- fixed-response demonstrations (user tasks) still take the options ---------------------------------------


def test_a_fixed_response_is_read_for_its_reasoning_and_choice():
    demo = DiscriminationDemo(
        "Q?", ("x", "y", "z"), "Answer (1) gives x, wrong; option 3 too.\nTherefore, the final choice is:\n### 2"
    )
    assert demo.worked() == ("Answer ({1}) gives x, wrong; option {3} too.", 1, "paper")
    task = GSM8KTask(label_format="letters")
    assert demo_response(demo, task.discrimination_style) == (
        "Answer (A) gives x, wrong; option C too.\nTherefore, the final choice is:\n### B"
    )
    with pytest.raises(SelfDiscError, match="states no choice on its last line"):
        DiscriminationDemo("Q?", ("x", "y"), "Both look fine to me.").worked()
