"""TriviaQA and CommonsenseQA: answer normalisation and extraction, loading every accepted schema from small
files, prompts, discrimination prompts and scoring. No model and no shared data: each test writes its files."""

import json
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks import SelfDiscError
from selfdisc_checks.backends.rendering import render_plain
from selfdisc_checks.discrimination.parse import parse_choice
from selfdisc_checks.records import Example
from selfdisc_checks.scoring.text import exact_match_any, extract_letter, extract_short_answer, normalize_answer
from selfdisc_checks.tasks.commonsenseqa import CommonsenseQATask
from selfdisc_checks.tasks.data import strip_dpr_quotes
from selfdisc_checks.tasks.triviaqa import TriviaQATask

# --- normalisation and exact match --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, normalised",
    [
        ("The Beatles", "beatles"),
        ("  THE   beatles!! ", "beatles"),
        ("An Apple a Day", "apple day"),
        ("Theatre Royal", "theatre royal"),  # an article only as a whole word
        ("Sunset Blvd.", "sunset blvd"),
        ("Campbell-Bannerman", "campbell bannerman"),  # punctuation becomes a space, as TriviaQA's script does
        ("Hitler's", "hitler s"),
        ("Rock ’n’ Roll", "rock n roll"),
        ("5 km", "5 km"),
        ("3.14", "3 14"),
        ("New_York", "new york"),
        ("the", ""),
        ("", ""),
    ],
)
def test_normalize_answer_follows_the_official_triviaqa_rules(text, normalised):
    assert normalize_answer(text) == normalised


@pytest.mark.parametrize(
    "prediction, aliases, expected",
    [
        ("beatles", ["The Beatles"], True),
        ("The Beatles!", ["Beatles"], True),
        ("the beatles", ["Wings", "THE BEATLES"], True),
        ("Beatle", ["The Beatles"], False),
        ("5 km", ["5 KM."], True),
        ("5km", ["5 km"], False),  # spacing inside an answer matters, as in the official script
        ("Campbell Bannerman", ["Sir Henry Campbell-Bannerman", "Campbell-Bannerman"], True),
        ("Sunset Boulevard", ["Sunset Blvd", "Sunset Boulevard"], True),
        ("Paris, France", ["Paris"], False),
        ("the", ["A", "The"], False),  # nothing left after normalisation matches nothing
        (None, ["Paris"], False),
        ("Paris", [], False),
    ],
)
def test_exact_match_any(prediction, aliases, expected):
    assert exact_match_any(prediction, aliases) is expected


@given(st.text())
def test_normalisation_is_idempotent(text):
    once = normalize_answer(text)
    assert normalize_answer(once) == once


_WORDY = st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=1, max_size=30)
_PUNCT = st.text(alphabet=string.punctuation + " ", max_size=4)


@given(_WORDY.filter(lambda t: normalize_answer(t) != ""), _PUNCT, _PUNCT)
def test_exact_match_ignores_case_and_surrounding_punctuation(answer, before, after):
    variant = before + answer.swapcase() + after
    assert exact_match_any(variant, [answer])
    assert exact_match_any(answer, ["Other", variant])


# --- open-answer extraction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion, expected",
    [
        (" Paris", ("Paris", "strict")),
        (" The Beatles", ("The Beatles", "strict")),
        (" 5 km", ("5 km", "strict")),
        ("Answer: Paris.", ("Paris", "flexible")),
        (" A: Mozart", ("Mozart", "flexible")),
        ("The answer is George Orwell.", ("George Orwell", "flexible")),
        ("\n\n  **Michelangelo**  \nQuestion: next", ("Michelangelo", "strict")),
        ("Jordan\nIt is in the Middle East.", ("Jordan", "strict")),
        ("A Tale of Two Cities", ("A Tale of Two Cities", "strict")),  # a title's article is not a tag
        ("", (None, "none")),
        ("  .  ", (None, "none")),
        ("Answer:", (None, "none")),
    ],
)
def test_extract_short_answer(completion, expected):
    assert extract_short_answer(completion) == expected


# --- multiple-choice letters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion, expected",
    [
        (" B", ("B", "strict")),
        ("(B)", ("B", "strict")),
        (" (E)", ("E", "strict")),
        ("B.", ("B", "strict")),
        ("B. bank", ("B", "strict")),
        ("b) bank", ("B", "strict")),
        (" c", ("C", "strict")),
        ("D\nBecause people keep money there.", ("D", "strict")),
        ("B bank", ("B", "strict")),
        ("**C**", ("C", "strict")),
        ("Answer: e", ("E", "strict")),
        ("Answer: **D**", ("D", "strict")),
        ("A: C", ("C", "strict")),  # the QA tag, then the letter
        ("A: bank", ("A", "strict")),  # the letter A, then its option text
        ("The answer is B", ("B", "flexible")),
        ("Revolving doors keep out thieves, so the answer: (c)", ("C", "flexible")),
        ("The correct answer is (A).", ("A", "flexible")),
        ("I'd say the answer is option D. It fits.", ("D", "flexible")),
        ("First I thought the answer is A. On reflection the answer is E.", ("E", "flexible")),
        ("answer is b, because banks need security", ("B", "flexible")),
        # articles, pronouns and capitals inside prose never count
        ("A person would go to a bank.", (None, "none")),
        ("A bank uses them.", (None, "none")),
        ("Answer: A revolving door is used at a bank.", (None, "none")),
        ("the answer is a bank", (None, "none")),
        ("I think it is C because of security.", (None, "none")),
        ("E.g. banks and malls.", (None, "none")),
        ("Options B and C are both places.", (None, "none")),
        ("F.", (None, "none")),  # not one of the letters
        ("The answer is F.", (None, "none")),
        ("", (None, "none")),
    ],
)
def test_extract_letter(completion, expected):
    assert extract_letter(completion, "ABCDE") == expected


def test_extract_letter_only_knows_the_valid_letters():
    assert extract_letter("D.", "ABC") == (None, "none")
    assert extract_letter("The answer is D.", "abcd") == ("D", "flexible")


@given(st.text(max_size=80), st.sets(st.sampled_from(string.ascii_uppercase), min_size=1, max_size=8))
def test_extract_letter_never_returns_a_letter_outside_the_valid_set(text, letters):
    letter, how = extract_letter(text, letters)
    assert (letter is None) == (how == "none")
    assert letter is None or letter in letters
    assert how in ("strict", "flexible", "none")


_FORMS = ["{}", " {}", "({})", "{}.", "{})", "Answer: {}", "The answer is ({})."]


@given(st.sampled_from("ABCDE"), st.sampled_from(_FORMS))
def test_extract_letter_reads_every_plain_form(letter, form):
    assert extract_letter(form.format(letter), "ABCDE")[0] == letter
    assert extract_letter(form.format(letter.lower()), "ABCDE")[0] == letter


# --- TriviaQA data -------------------------------------------------------------------------------------------


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


TRIVIA_ROWS = [
    {
        "question": "Which Lloyd Webber musical premiered in the US in 1993?",
        "question_id": "tc_1",
        "answer": {
            "value": "Sunset Boulevard",
            "aliases": ["Sunset Blvd", "Sunset Boulevard"],
            "normalized_aliases": ["sunset blvd", "sunset boulevard"],
            "normalized_value": "sunset boulevard",
        },
    },
    {
        "question": "Who had a 70s hit with Kiss You All Over?",
        "question_id": "tc_2",
        "answer": {
            "value": "Exile",
            "aliases": ["Exiles", "Exile (band)"],
            "normalized_aliases": [],
            "normalized_value": "exile",
        },
    },
]


def test_triviaqa_loads_the_hub_schema_from_jsonl(tmp_path):
    task = TriviaQATask(data=write_jsonl(tmp_path / "validation.jsonl", TRIVIA_ROWS))
    examples = task.load()
    assert [e.id for e in examples] == ["tc_1", "tc_2"]
    assert [e.reference for e in examples] == ["Sunset Boulevard", "Exile"]
    assert examples[1].meta["aliases"] == ["Exiles", "Exile (band)", "Exile"]  # the value joins the aliases
    assert task.load(limit=1) == examples[:1]
    assert task.describe()["format"] == "hub" and task.describe()["data"].endswith("validation.jsonl")


DPR_LINES = [
    "Who was the man behind The Chipmunks?\t['David Seville']",
    '"""Who was the target of the failed """"Bomb Plot"""" of 1944?"""\t'
    '"[\'Hitler\', ""Hitler\'s health"", \'Adolf Hitler\']"',
    '"""Rodney you plonka"" and ""This time next year"" are catchphrases from which sitcom?"\t'
    "['Only Fools and Horses', 'Only Fools & Horses']",
]


@pytest.mark.parametrize("suffix", [".txt", ".tsv", ".csv"])
def test_triviaqa_loads_dpr_qa_files_and_strips_the_extra_quotes(tmp_path, suffix):
    path = tmp_path / f"trivia-test.qa{suffix}"
    path.write_text("\n".join(DPR_LINES) + "\n", encoding="utf-8")
    task = TriviaQATask(data=path)
    examples = task.load()
    assert [e.id for e in examples] == ["dpr-0", "dpr-1", "dpr-2"]
    assert examples[1].question == 'Who was the target of the failed "Bomb Plot" of 1944?'
    assert examples[1].meta["aliases"] == ["Hitler", "Hitler's health", "Adolf Hitler"]
    assert examples[1].reference == "Hitler"  # DPR has no value: the first alias
    assert examples[2].question.startswith('"Rodney you plonka" and "This time next year"')  # real quotes stay
    assert task.load(limit=2) == examples[:2]
    assert task.describe()["format"] == "dpr"


def test_dpr_reference_is_the_first_alias_with_words(tmp_path):
    path = tmp_path / "qa.tsv"
    path.write_text("Which branch of science adds and divides?\t['+-*/', 'Arithmetic']\n")
    (example,) = TriviaQATask(data=path).load()
    assert example.reference == "Arithmetic" and example.meta["aliases"] == ["+-*/", "Arithmetic"]


@pytest.mark.parametrize(
    "text, cleaned",
    [
        (
            '"In which movie did Garbo say, ""I want to be alone""."',
            'In which movie did Garbo say, "I want to be alone".',
        ),
        ('"Plain question wrapped in quotes?"', "Plain question wrapped in quotes?"),
        ('"Yes" or "No" is the answer to what?', '"Yes" or "No" is the answer to what?'),
        ('"Quote" begins and ends "here"', '"Quote" begins and ends "here"'),
        ("No quotes at all?", "No quotes at all?"),
    ],
)
def test_strip_dpr_quotes(text, cleaned):
    assert strip_dpr_quotes(text) == cleaned


@pytest.mark.parametrize(
    "lines, message",
    [
        (["Q one?\t['a']", "Q two?\t['b']", "no tab here"], "Row 3 of .* has 1 column"),
        (["Q one?\t['a']", "Q two?\tnot a list"], "Row 2 of .* not a non-empty Python list of strings"),
        (["Q one?\t[]"], "Row 1 of .* not a non-empty Python list"),
        (["Q one?\t[1, 2]"], "Row 1 of .* not a non-empty Python list"),
        (["Q one?\t['a']\textra"], "Row 1 of .* has 3 column"),
        (["\t['a']"], "Row 1 of .* empty question"),
    ],
)
def test_malformed_dpr_rows_name_the_row(tmp_path, lines, message):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SelfDiscError, match=message) as raised:
        TriviaQATask(data=path).load()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"question": "q?", "question_id": "x"}], "lacks field\\(s\\) answer"),
        (
            [TRIVIA_ROWS[0], {"question": "q?", "question_id": "x", "answer": {"value": "", "aliases": []}}],
            "Row 2 of .* lacks an 'answer' with a 'value' or 'aliases'",
        ),
        (
            [{"question": " ", "question_id": "x", "answer": {"value": "v", "aliases": ["v"]}}],
            "Row 1 of .* lacks a question",
        ),
    ],
)
def test_bad_triviaqa_hub_rows(tmp_path, rows, message):
    with pytest.raises(SelfDiscError, match=message) as raised:
        TriviaQATask(data=write_jsonl(tmp_path / "bad.jsonl", rows)).load()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["nope.txt", "nope.jsonl"])
def test_missing_and_empty_triviaqa_files(tmp_path, name):
    with pytest.raises(SelfDiscError, match="does not exist"):
        TriviaQATask(data=tmp_path / name).load()
    (tmp_path / name).write_text("")
    with pytest.raises(SelfDiscError, match="is empty"):
        TriviaQATask(data=tmp_path / name).load()


# --- TriviaQA prompts and scoring ----------------------------------------------------------------------------


def test_triviaqa_prompt_is_the_harness_layout_with_own_shots():
    task = TriviaQATask(shots=2)
    example = Example("q", "Who was the man behind The Chipmunks?", "David Seville", {"aliases": ["David Seville"]})
    prompt = task.prompt(example)
    assert prompt.query == "Question: Who was the man behind The Chipmunks??"  # the harness appends "?"
    assert prompt.answer_prefix == "Answer:" and len(prompt.shots) == 2
    text = render_plain(prompt)
    assert re.fullmatch(r"(Question: [^\n]+\?\?\nAnswer: [^\n]+\n\n){2}Question: [^\n]+\?\?\nAnswer:", text), text
    assert all("." not in answer and "," not in answer for _, answer in TriviaQATask().prompt(example).shots)
    assert TriviaQATask(shots=0).prompt(example).shots == ()
    with pytest.raises(SelfDiscError, match="shots must be between 0 and 5"):
        TriviaQATask(shots=6)


def test_triviaqa_protocol_uses_the_harness_stops():
    task = TriviaQATask(generation_max_tokens=16, discrimination_prompt="compact")
    protocol = task.protocol()
    assert protocol["generation"] == {"max_new_tokens": 16, "stop": ["\n", ".", ","], "shots": 5}
    assert protocol["discrimination"]["demonstrations"] == 2
    assert TriviaQATask().discrimination_prompt == "paper"
    assert TriviaQATask().describe()["data"] == "hub:mandarjoshi/trivia_qa/rc.nocontext/validation"
    with pytest.raises(SelfDiscError, match="no discrimination prompt 'fancy'"):
        TriviaQATask(discrimination_prompt="fancy")


BEATLES = Example("q", "Which band recorded Abbey Road?", "The Beatles", {"aliases": ["The Beatles", "Beatles"]})


@pytest.mark.parametrize(
    "completion, score",
    [
        (" The Beatles", 1.0),
        (" beatles", 1.0),
        (" Answer: THE BEATLES.", 1.0),
        (" The Beatles\nQuestion: Who", 1.0),
        (" Wings", 0.0),
        (" The Beatle", 0.0),
        ("", 0.0),
    ],
)
def test_triviaqa_scoring(completion, score):
    assert TriviaQATask().score(BEATLES, completion) == score


def test_triviaqa_extract_gives_one_vote_per_normalised_answer():
    task = TriviaQATask()
    assert task.extract(" The Beatles") == ("beatles", "strict")
    assert task.extract("Answer: beatles.") == ("beatles", "flexible")
    assert task.extract(" The") == (None, "none")
    # a question without aliases in meta is scored against its reference
    assert task.score(Example("q", "?", "Paris"), " paris") == 1.0


@pytest.mark.parametrize("variant", ["paper", "compact"])
def test_triviaqa_discrimination_prompt_shows_the_candidates(variant):
    task = TriviaQATask(discrimination_prompt=variant)
    prompt = task.discrimination_prompt_for(BEATLES, [" The Beatles", " Wings", " The Rolling Stones"])
    assert BEATLES.question in prompt.query
    for label, candidate in [("(1)", "The Beatles"), ("(2)", "Wings"), ("(3)", "The Rolling Stones")]:
        assert f"{label} {candidate}" in prompt.query
    assert len(prompt.shots) == 2
    for demo in task.discrimination_demos():
        chosen = parse_choice(demo.response, len(demo.options))
        assert chosen is not None and demo.options[chosen] in ("The Danube", "George Orwell")
        if variant == "paper":
            assert demo.response.endswith(f"Therefore, the final choice is:\n### {chosen + 1}")


# --- CommonsenseQA -------------------------------------------------------------------------------------------


def csqa_row(
    identifier="id1", key="A", labels="ABCDE", texts=("bank", "library", "department store", "mall", "new york")
):
    return {
        "id": identifier,
        "question": "A revolving door is convenient for two direction travel, but it also serves as a security "
        "measure at a what?",
        "question_concept": "revolving door",
        "choices": {"label": list(labels), "text": list(texts)},
        "answerKey": key,
    }


def test_commonsenseqa_loads_the_hub_schema_with_options_in_the_question(tmp_path):
    rows = [csqa_row(), csqa_row("id2", "C", texts=("a", "b", "c", "d", "e"))]
    task = CommonsenseQATask(data=write_jsonl(tmp_path / "dev_rand_split.jsonl", rows))
    examples = task.load()
    assert [(e.id, e.reference) for e in examples] == [("id1", "A"), ("id2", "C")]
    first = examples[0]
    assert first.question.endswith("at a what?\nA. bank\nB. library\nC. department store\nD. mall\nE. new york")
    assert first.meta["choices"]["D"] == "mall"
    assert task.load(limit=1) == examples[:1]
    assert task.describe()["data"].endswith("dev_rand_split.jsonl")


@pytest.mark.parametrize(
    "row, message",
    [
        (csqa_row(key=""), "Row 2 of .* answerKey ''"),
        (csqa_row(key="F"), "Row 2 of .* answerKey 'F'"),
        (csqa_row(labels="ABCD"), "Row 2 of .* equally long 'label' and 'text'"),
        (csqa_row(labels=["A", "B", "C", "D", "EE"]), "Row 2 of .* not single letters"),
        (csqa_row(labels="ABCDA"), "Row 2 of .* repeats an option label"),
        (csqa_row(texts=("bank", "", "x", "y", "z")), "Row 2 of .* empty option text"),
        ({k: v for k, v in csqa_row().items() if k != "choices"}, "Row 2 of .* has no 'choices'"),
    ],
)
def test_bad_commonsenseqa_rows(tmp_path, row, message):
    with pytest.raises(SelfDiscError, match=message) as raised:
        CommonsenseQATask(data=write_jsonl(tmp_path / "bad.jsonl", [csqa_row(), row])).load()
    assert "\n" not in str(raised.value)


def test_commonsenseqa_file_without_a_field(tmp_path):
    rows = [{k: v for k, v in csqa_row().items() if k != "answerKey"}]
    with pytest.raises(SelfDiscError, match="lacks field\\(s\\) answerKey"):
        CommonsenseQATask(data=write_jsonl(tmp_path / "bad.jsonl", rows)).load()
    with pytest.raises(SelfDiscError, match=re.escape("does not exist; check --data commonsenseqa=PATH")):
        CommonsenseQATask(data=tmp_path / "nope.jsonl").load()


def test_commonsenseqa_prompt_asks_for_a_letter_in_the_harness_layout():
    example = Example(
        "q",
        "Where is a fish?\nA. sea\nB. sky\nC. desert\nD. oven\nE. moon",
        "A",
        {"choices": dict(zip("ABCDE", ["sea", "sky", "desert", "oven", "moon"], strict=False))},
    )
    task = CommonsenseQATask(shots=3)
    prompt = task.prompt(example)
    assert prompt.query == f"Question: {example.question}" and prompt.answer_prefix == "Answer:"
    assert [answer for _, answer in prompt.shots] == ["B", "C", "A"]
    text = render_plain(prompt)
    block = r"Question: [^\n]+(\n[A-E]\. [^\n]+){5}\nAnswer:"
    assert re.fullmatch(rf"({block} [A-E]\n\n){{3}}{block}", text), text
    assert task.protocol()["generation"] == {"max_new_tokens": 32, "stop": ["\n", "Question:"], "shots": 3}
    with pytest.raises(SelfDiscError, match="shots must be between 0 and 5"):
        CommonsenseQATask(shots=-1)


FISH = Example(
    "q",
    "Where does a fish live?\nA. sea\nB. sky\nC. desert\nD. oven\nE. moon",
    "A",
    {"choices": dict(zip("ABCDE", ["sea", "sky", "desert", "oven", "moon"], strict=False))},
)


@pytest.mark.parametrize(
    "completion, score",
    [
        (" A", 1.0),
        (" (a)", 1.0),
        ("A. sea", 1.0),
        (" The answer is A.", 1.0),
        (" B", 0.0),
        (" A fish lives in the sea.", 0.0),
        (" sea", 0.0),
        ("", 0.0),
    ],
)
def test_commonsenseqa_scoring(completion, score):
    assert CommonsenseQATask().score(FISH, completion) == score


@pytest.mark.parametrize("variant", ["paper", "compact"])
def test_commonsenseqa_discrimination_options_show_letter_and_text(variant):
    task = CommonsenseQATask(discrimination_prompt=variant)
    prompt = task.discrimination_prompt_for(FISH, [" B", " A", "The answer is (c).", " no idea"])
    assert FISH.question in prompt.query
    for shown in ["(1) B. sky", "(2) A. sea", "(3) C. desert", "(4) no idea"]:
        assert shown in prompt.query
    assert task.option_text(FISH, " E") == "E. moon"
    for demo in task.discrimination_demos():
        chosen = parse_choice(demo.response, len(demo.options))
        assert chosen is not None and demo.options[chosen] in ("C. windowsill", "A. wear a coat")
        assert all(re.fullmatch(r"[A-E]\. .+", option) for option in demo.options)
