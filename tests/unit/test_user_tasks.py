"""Tasks users write themselves: entry points, task_modules, and declarative [tool.selfdisc.tasks.NAME] tables."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks import SelfDiscError, get_task, task_names
from selfdisc_checks.discrimination.parse import parse_choice
from selfdisc_checks.tasks import ENTRY_POINT_GROUP, task_registry
from selfdisc_checks.tasks.declarative import (
    DEFAULT_PROMPT,
    DeclarativeTask,
    TaskDefinition,
    default_stop,
    extract_letter,
    extract_line,
    normalize_text,
    parse_definition,
    reference_for,
    split_template,
)

BASE = {"data": "qa.jsonl", "question": "q", "answer": "a", "metric": "exact"}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def declarative(tmp_path: Path, rows: list[dict], **table) -> DeclarativeTask:
    write_jsonl(tmp_path / "qa.jsonl", rows)
    return get_task("mine", task_definitions={"mine": parse_definition("mine", {**BASE, **table}, tmp_path)})


# --- parsing [tool.selfdisc.tasks.NAME] -------------------------------------------------------------------


def test_a_minimal_table_gets_the_documented_defaults(tmp_path):
    definition = parse_definition("mine", BASE, tmp_path)
    assert definition.data == str(tmp_path / "qa.jsonl") and definition.local  # relative to pyproject.toml
    assert definition.prompt == DEFAULT_PROMPT == "Question: {question}\nAnswer:"
    assert (definition.shots, definition.stop, definition.max_new_tokens, definition.choices) == ((), None, None, None)


def test_a_hub_id_keeps_its_config_and_split(tmp_path):
    definition = parse_definition(
        "mine", {**BASE, "data": "org/name", "config": "main", "split": "validation"}, tmp_path
    )
    assert (definition.data, definition.local, definition.config, definition.split) == (
        "org/name",
        False,
        "main",
        "validation",
    )
    assert parse_definition("mine", {**BASE, "data": "org/name"}, tmp_path).split == "test"


@pytest.mark.parametrize(
    "table, message",
    [
        (3, r"\[tool.selfdisc.tasks.mine\] must be a table \(empty to run a registered task as is\), not 3\."),
        (
            {**BASE, "questoin": "q"},
            r"\[tool.selfdisc.tasks.mine\] has unknown key\(s\) questoin; known keys are answer, ",
        ),
        (
            {k: v for k, v in BASE.items() if k != "data"},
            r"\[tool.selfdisc.tasks.mine\] lacks data; a task defined there "
            r"needs data, question, answer and metric\.",
        ),
        ({"data": "x.jsonl"}, r"lacks question, answer, metric;"),
        ({k: v for k, v in BASE.items() if k != "metric"}, r"\[tool.selfdisc.tasks.mine\] lacks metric;"),
        ({**BASE, "metric": "fuzzy"}, r"metric 'fuzzy' is not one of numeric, exact, exact_any, choice\."),
        ({**BASE, "prompt": "Answer this: {q}"}, r"prompt must contain \{question\} where the question goes"),
        ({**BASE, "question": 3}, r"\[tool.selfdisc.tasks.mine\] question must be a non-empty string, not 3\."),
        ({**BASE, "answer": " "}, r"answer must be a non-empty string"),
        ({**BASE, "stop": "\n"}, r"stop must be a list of non-empty strings, not '\\n'\."),
        ({**BASE, "stop": [""]}, r"stop must be a list of non-empty strings"),
        ({**BASE, "max_new_tokens": "8"}, r"max_new_tokens must be a positive integer, not '8'\."),
        ({**BASE, "max_new_tokens": 0}, r"max_new_tokens must be a positive integer, not 0\."),
        ({**BASE, "max_new_tokens": True}, r"max_new_tokens must be a positive integer, not True\."),
        ({**BASE, "choices": "options"}, r"choices \(a field of options\) needs metric \"choice\", not 'exact'\."),
        (
            {**BASE, "data": "my data"},
            r"data 'my data' is neither a file ending in .jsonl, .json, .csv, .parquet nor a hub",
        ),
        ({**BASE, "config": "main"}, r"config applies to hub data sets only, not to the file 'qa.jsonl'\."),
        (
            {**BASE, "shots": {"question": "q"}},
            r"shots must be a list of \{question = \.\.\., answer = \.\.\.\} tables",
        ),
        ({**BASE, "shots": ["q"]}, r"shots\[0\] must be a table \{question = \.\.\., answer = \.\.\.\}, not 'q'\."),
        (
            {**BASE, "shots": [{"question": "q", "answer": "a", "hint": 1}]},
            r"shots\[0\] has unknown key\(s\) hint; a shot "
            r"holds answer, question\.",
        ),
        ({**BASE, "shots": [{"question": "q", "answer": "p"}, {"question": "q"}]}, r"shots\[1\] lacks answer;"),
        ({**BASE, "shots": [{"question": "", "answer": "p"}]}, r"shots\[0\] question must be a non-empty string"),
        (
            {**BASE, "metric": "numeric", "shots": [{"question": "q", "answer": "many"}]},
            r"shots\[0\] answer 'many' is not a number, nor text ending in '#### n'",
        ),
        (
            {**BASE, "metric": "choice", "shots": [{"question": "q", "answer": "E", "choices": ["x", "y"]}]},
            r"shots\[0\] answer 'E' is outside the 2 options \(metric choice\)\.",
        ),
        (
            {**BASE, "metric": "choice", "shots": [{"question": "q", "answer": "B", "choices": "x"}]},
            r"shots\[0\] choices must be a list of strings",
        ),
        (
            {**BASE, "metric": "exact", "shots": [{"question": "q", "answer": "The"}]},
            r"shots\[0\] answer 'The' is empty after normalisation \(metric exact\)\.",
        ),
    ],
)
def test_every_problem_in_a_table_is_one_sentence_naming_it(tmp_path, table, message):
    with pytest.raises(SelfDiscError, match=message) as error:
        parse_definition("mine", table, tmp_path)
    assert str(error.value).count("\n") == 0 and str(error.value).startswith("[tool.selfdisc.tasks.mine")


def test_a_data_file_of_unknown_type_and_a_bad_name_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.txt").write_text("x")
    with pytest.raises(SelfDiscError, match=r"data 'data/qa.txt' is a file of unknown type; use one ending in \.jsonl"):
        parse_definition("mine", {**BASE, "data": "data/qa.txt"}, tmp_path)
    with pytest.raises(SelfDiscError, match=r"Task name 'my task' \(\[tool.selfdisc.tasks.my task\]\) may hold only"):
        parse_definition("my task", BASE, tmp_path)


# --- answers: references, extraction and scoring -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  the   EIFFEL tower!! ", "eiffel tower"),
        ("An apple a day", "apple day"),
        ("U.S.A.", "usa"),
        ("Théâtre «du» Soleil…", "théâtre du soleil"),
        ("rock-and-roll", "rockandroll"),
        ("Theatre", "theatre"),  # "the" only as a word
        ("a", ""),
    ],
)
def test_exact_match_normalisation(text, normalized):
    assert normalize_text(text) == normalized


@pytest.mark.parametrize(
    "completion, expected",
    [
        (" Paris\n", ("Paris", "strict")),
        ("\n\n  the Eiffel Tower.\nIt is in Paris.", ("the Eiffel Tower.", "strict")),
        ("The answer is Paris.", ("Paris.", "flexible")),
        ("Answer: the Seine", ("the Seine", "flexible")),
        ("Final answer: 1066", ("1066", "flexible")),
        ("Answers vary", ("Answers vary", "strict")),
        ("   \n ", (None, "none")),
    ],
)
def test_exact_extraction_takes_the_first_line_without_an_answer_lead(completion, expected):
    assert extract_line(completion) == expected


@pytest.mark.parametrize(
    "completion, letter, how",
    [
        ("B", "B", "strict"),
        (" B) Paris", "B", "strict"),
        ("(C) the third one", "C", "strict"),
        ("D.", "D", "strict"),
        ("A: because", "A", "strict"),
        ("**B**\nIt is B because ...", "B", "strict"),
        ("C\nbecause ...", "C", "strict"),
        ("I think so. The answer is C.", "C", "flexible"),
        ("Answer: (D) Paris", "D", "flexible"),
        ("After thinking, the answer is: B", "B", "flexible"),
        ("The answer is A. No wait, the answer is B.", "B", "flexible"),  # the last statement counts
        ("A cat sat on the mat.", None, "none"),  # an article, not a letter
        ("A.I. is the answer", None, "none"),
        ("I think the capital is Paris.", None, "none"),  # a bare capital in prose
        ("The answer is I think C", None, "none"),
        ("The answer is a dog.", None, "none"),  # lower case is prose
        ("Both B and C look right", None, "none"),
        ("", None, "none"),
    ],
)
def test_choice_letters_are_read_conservatively(completion, letter, how):
    assert extract_letter(completion) == (letter, how)


@given(st.sampled_from("ABCDE"), st.sampled_from([")", ".", ":", "", ") because", ". It is"]), st.text(max_size=30))
def test_a_completion_opening_with_a_marked_letter_chooses_it(letter, mark, rest):
    tail = f"{mark}\n{rest}" if mark == "" else f"{mark} {rest}"
    assert extract_letter(letter + tail)[0] == letter


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.;!?'-\n", max_size=80))
def test_lower_case_prose_never_yields_a_letter(text):
    assert extract_letter(text) == (None, "none")


@given(st.text(min_size=1, max_size=40))
def test_normalisation_is_idempotent_and_ignores_case_and_surrounding_punctuation(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert normalize_text(f"The {text.upper()}!") == normalize_text(text.upper())


@pytest.mark.parametrize(
    "metric, value, n, reference",
    [
        ("numeric", 7, None, "7"),
        ("numeric", 7.0, None, "7"),
        ("numeric", "1,000", None, "1000"),
        ("numeric", "$-3.50", None, "-3.5"),
        ("numeric", "3 + 4 = 7\n#### 7", None, "7"),
        ("exact", "Paris", None, "Paris"),
        ("exact", 1066, None, "1066"),
        ("exact_any", ["Paris", "City of Light"], None, "Paris"),
        ("exact_any", "Paris", None, "Paris"),
        ("choice", "b", 4, "B"),
        ("choice", 2, 4, "C"),
        ("choice", " D ", None, "D"),
    ],
)
def test_references_from_data_values(metric, value, n, reference):
    assert reference_for(metric, value, n) == reference


@pytest.mark.parametrize(
    "metric, value, n, clause",
    [
        ("numeric", "seven", None, "is not a number"),
        ("numeric", True, None, "is not a number"),
        ("exact", ["Paris"], None, "is not a string"),
        ("exact", "an", None, "is empty after normalisation"),
        ("exact_any", [], None, "is not a non-empty list of aliases"),
        ("exact_any", ["the", "a"], None, "only aliases that are empty"),
        ("choice", "AB", 4, "is neither a letter nor a 0-based option index"),
        ("choice", "1", 4, "is neither a letter nor a 0-based option index"),
        ("choice", 4, 4, "is outside the 4 options"),
        ("choice", -1, 4, "is outside the 4 options"),
    ],
)
def test_values_that_cannot_be_references(metric, value, n, clause):
    with pytest.raises(ValueError, match=clause):
        reference_for(metric, value, n)


def test_numeric_tasks_score_like_gsm8k(tmp_path):
    task = declarative(tmp_path, [{"q": "3+4", "a": 7}, {"q": "1000+1", "a": "1,001"}], metric="numeric")
    first, second = task.load()
    assert (first.reference, second.reference) == ("7", "1001")
    assert task.score(first, " 7\n") == task.score(first, "3 + 4 = 7. The answer is 7.0.") == 1.0
    assert task.score(first, "The answer is 8.") == task.score(first, "no idea") == 0.0
    assert task.score(second, "That makes $1,001.") == 1.0
    assert task.extract("The answer is 18 - 2 = 16.") == ("16", "strict")


def test_exact_tasks_compare_normalised_first_lines(tmp_path):
    task = declarative(tmp_path, [{"q": "Capital of France?", "a": "Paris"}])
    (example,) = task.load()
    for completion in (" Paris", "paris.", "The answer is Paris!", " PARIS\nIt is on the Seine."):
        assert task.score(example, completion) == 1.0, completion
    for completion in ("Paris, France", "Lyon", "", "It is Paris."):
        assert task.score(example, completion) == 0.0, completion


def test_exact_any_tasks_accept_every_alias_including_nested_fields(tmp_path):
    rows = [{"q": "Capital of France?", "answer": {"value": "Paris", "aliases": ["Paris", "City of Light"]}}]
    task = declarative(tmp_path, rows, metric="exact_any", answer="answer.aliases")
    (example,) = task.load()
    assert example.reference == "Paris" and example.meta["aliases"] == ["Paris", "City of Light"]
    assert task.score(example, "the city of light") == task.score(example, "Paris.") == 1.0
    assert task.score(example, "Lyon") == 0.0


def test_choice_tasks_show_lettered_options_and_read_the_chosen_letter(tmp_path):
    rows = [
        {"q": "Capital of France?", "options": ["Lyon", "Paris", "Nice"], "a": 1},
        {"q": "Largest planet?", "options": ["Mars", "Jupiter"], "a": "b"},
    ]
    task = declarative(tmp_path, rows, metric="choice", choices="options")
    first, second = task.load()
    assert first.question == "Capital of France?\nA. Lyon\nB. Paris\nC. Nice"
    assert (first.reference, second.reference) == ("B", "B") and first.meta["choices"] == ["Lyon", "Paris", "Nice"]
    assert task.score(first, "B) Paris") == task.score(first, "I'd say the answer is (B).") == 1.0
    assert task.score(first, "A") == task.score(first, "Paris is the answer") == 0.0


@pytest.mark.parametrize(
    "rows, table, message",
    [
        (
            [{"q": "x", "a": "many"}],
            {"metric": "numeric"},
            r"Row 1 of .*qa.jsonl has 'a' 'many', which is not a number",
        ),
        ([{"q": "x", "a": "y"}, {"q": "", "a": "y"}], {}, r"Row 2 of .*qa.jsonl has an empty or non-text 'q' field\."),
        ([{"q": "x", "a": {"value": "y"}}], {"answer": "a.aliases"}, r"Row 1 of .*qa.jsonl has no field 'a.aliases'"),
        (
            [{"q": "x", "a": 5, "o": ["p", "q"]}],
            {"metric": "choice", "choices": "o"},
            r"Row 1 of .*qa.jsonl has 'a' 5, which is outside the 2 options",
        ),
        (
            [{"q": "x", "a": 0, "o": "pq"}],
            {"metric": "choice", "choices": "o"},
            r"Row 1 of .*qa.jsonl has a 'o' field that is not a list of options\.",
        ),
        ([{"q": "x", "b": "y"}], {}, r"lacks field\(s\) a; task 'mine' needs q, a\."),
    ],
)
def test_bad_rows_are_one_sentence_naming_the_row(tmp_path, rows, table, message):
    with pytest.raises(SelfDiscError, match=message):
        declarative(tmp_path, rows, **table).load()


def test_a_missing_data_file_is_refused_when_the_task_is_built(tmp_path):
    definitions = {"mine": parse_definition("mine", {**BASE, "data": "gone.jsonl"}, tmp_path)}
    with pytest.raises(
        SelfDiscError,
        match=r"Data file .*gone.jsonl for task 'mine' does not exist; fix data under "
        r"\[tool.selfdisc.tasks.mine\] \(paths are relative to pyproject.toml\)\.",
    ):
        get_task("mine", task_definitions=definitions)
    with pytest.raises(SelfDiscError, match=r"does not exist; check --data mine=PATH\."):
        get_task("mine", task_definitions=definitions, data=str(tmp_path / "other.jsonl"))
    write_jsonl(tmp_path / "other.jsonl", [{"q": "x", "a": "y"}])  # --data mine=PATH replaces the table's data
    assert get_task("mine", task_definitions=definitions, data=str(tmp_path / "other.jsonl")).load()[0].question == "x"


# --- prompts and demonstrations ----------------------------------------------------------------------------


def test_the_template_splits_into_query_and_answer_prefix():
    assert split_template("Question: {question}\nAnswer:") == ("Question: {question}", "Answer:")
    assert split_template("Q: {question}=\nA: ") == ("Q: {question}=", "A:")
    assert split_template("Solve {question}") == ("Solve {question}", "")
    assert split_template("Context:\n{question}") == ("Context:\n{question}", "")
    assert default_stop("Question: {question}\nAnswer:") == ("Question:", "</s>", "<|im_end|>")
    assert default_stop("{question}") == ("</s>", "<|im_end|>")


def test_prompts_put_shots_and_question_into_the_template(tmp_path):
    shots = [{"question": "9-3", "answer": 6}, {"question": "8*1", "answer": "8"}]
    task = declarative(
        tmp_path,
        [{"q": "3+4", "a": 7}],
        metric="numeric",
        prompt="Q: {question}=\nA:",
        shots=shots,
        stop=["\n"],
        max_new_tokens=8,
    )
    prompt = task.prompt(task.load()[0])
    assert (prompt.query, prompt.answer_prefix, prompt.shots) == ("Q: 3+4=", "A:", (("Q: 9-3=", "6"), ("Q: 8*1=", "8")))
    assert (task.generation.max_new_tokens, task.generation.stop) == (8, ("\n",))
    assert task.describe()["metric"] == "numeric" and task.describe()["shots"] == 2
    assert task.protocol()["generation"] == {"max_new_tokens": 8, "stop": ["\n"], "shots": 2}


def test_a_template_may_hold_braces_other_than_the_question(tmp_path):
    task = declarative(tmp_path, [{"q": "x", "a": "y"}], prompt='Reply in JSON {"answer": ...}.\n{question}\nAnswer:')
    assert task.prompt(task.load()[0]).query == 'Reply in JSON {"answer": ...}.\nx'


def test_default_limits_follow_the_metric(tmp_path):
    assert declarative(tmp_path, [{"q": "x", "a": 1}], metric="numeric").generation.max_new_tokens == 256
    task = declarative(tmp_path, [{"q": "x", "a": "y"}])
    assert task.generation.max_new_tokens == 64 and task.generation.stop == ("Question:", "</s>", "<|im_end|>")


@pytest.mark.parametrize("variant", ["compact", "paper"])
def test_demonstrations_pair_each_shot_with_another_shots_answer(tmp_path, variant):
    shots = [
        {"question": "Capital of France?", "answer": "Paris"},
        {"question": "Capital of Italy?", "answer": "Rome"},
        {"question": "Capital of Spain?", "answer": "Madrid"},
    ]
    task = declarative(tmp_path, [{"q": "x", "a": "y"}], shots=shots)
    task.set_protocol(discrimination_prompt=variant)
    first, second = task.discrimination_demos()
    assert (first.question, first.options) == ("Capital of France?", ("Rome", "Paris"))  # right answer second
    assert (second.question, second.options) == ("Capital of Italy?", ("Rome", "Paris"))  # right answer first
    assert parse_choice(first.response, 2) == 1 and parse_choice(second.response, 2) == 0
    if variant == "paper":
        assert first.response.endswith("Therefore, the final choice is:\n### 2")
    rendered = task.discrimination_prompt_for(task.load()[0], ["y", "z"])
    assert len(rendered.shots) == 2 and rendered.query.startswith("Question: x")


def test_demonstrations_skip_answers_the_metric_counts_as_equal(tmp_path):
    shots = [{"question": "a?", "answer": "7"}, {"question": "b?", "answer": "7.0"}, {"question": "c?", "answer": "9"}]
    demos = declarative(tmp_path, [{"q": "x", "a": 1}], metric="numeric", shots=shots).discrimination_demos()
    assert [d.options for d in demos] == [("9", "7"), ("7.0", "9")]
    assert declarative(tmp_path, [{"q": "x", "a": "y"}]).discrimination_demos() == []  # no shots, no demonstrations
    one = [{"question": "a?", "answer": "p"}]
    assert declarative(tmp_path, [{"q": "x", "a": "y"}], shots=one).discrimination_demos() == []


def test_choice_demonstrations_offer_another_letter(tmp_path):
    shots = [
        {"question": "2+2?", "choices": ["4", "5"], "answer": "A"},
        {"question": "3+3?", "choices": ["5", "6"], "answer": 1},
    ]
    task = declarative(tmp_path, [{"q": "x", "a": "A"}], metric="choice", shots=shots)
    assert task.prompt(task.load()[0]).shots == (
        ("Question: 2+2?\nA. 4\nB. 5", "A"),
        ("Question: 3+3?\nA. 5\nB. 6", "B"),
    )
    first, second = task.discrimination_demos()
    assert (first.question, first.options, second.options) == ("2+2?\nA. 4\nB. 5", ("B", "A"), ("B", "A"))


# --- the registry: entry points and task_modules ---------------------------------------------------------------

MODULE = """
from selfdisc_checks.tasks.arithmetic import ArithmeticTask


class Additions(ArithmeticTask):
    name = "additions"

    def __init__(self, **options):
        super().__init__(**{"operators": "+", "size": 50, **options})


class Unnamed(ArithmeticTask):
    name = ""


def make_products(**options):
    return ArithmeticTask(**{"operators": "*", "size": 50, **options})
"""


@pytest.fixture
def importable(tmp_path, monkeypatch):
    """Write modules (and distributions) under a fresh sys.path entry; forget them afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def write(module: str, source: str) -> str:
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        written.append(module)
        return module

    def distribution(name: str, entry_points: dict[str, str]) -> None:
        info = root / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        import importlib

        importlib.invalidate_caches()

    write.distribution = distribution
    yield write
    for module in written:
        sys.modules.pop(module, None)


def test_entry_points_register_classes_and_factories(importable):
    importable("ep_tasks_a", MODULE)
    importable.distribution("ep_tasks_a", {"additions": "ep_tasks_a:Additions", "products": "ep_tasks_a:make_products"})
    assert {"additions", "products", "arithmetic", "gsm8k"} <= set(task_names())  # no parameters needed
    assert "ep_tasks_a" not in sys.modules  # names are read without importing the plugin
    additions = get_task("additions", seed=3)
    assert additions.name == "additions" and additions.operators == "+" and additions.seed == 3
    products = get_task("products")
    assert products.name == "products" and products.operators == "*"  # the registered name, not "arithmetic"
    assert products.load(limit=3)[0].question.count("*") == 1
    assert task_registry()["products"].origin == "entry point products = ep_tasks_a:make_products"


def test_a_broken_entry_point_fails_only_the_runs_that_use_it(importable):
    importable("ep_tasks_b", "raise RuntimeError('boom')\n")
    importable.distribution("ep_tasks_b", {"broken": "ep_tasks_b:Task", "missing": "ep_tasks_nowhere:Task"})
    assert {"broken", "missing"} <= set(task_names())
    get_task("arithmetic")  # other tasks are unaffected
    with pytest.raises(
        SelfDiscError,
        match=r"^Task entry point broken = ep_tasks_b:Task \(group selfdisc_checks.tasks\) "
        r"could not be loaded \(RuntimeError: boom\)\.$",
    ):
        get_task("broken")
    with pytest.raises(
        SelfDiscError,
        match=r"entry point missing = ep_tasks_nowhere:Task .* \(ModuleNotFoundError: "
        r"No module named 'ep_tasks_nowhere'\)\.$",
    ):
        get_task("missing")


def test_entry_points_that_are_not_tasks_are_refused_with_a_sentence(importable):
    importable("ep_tasks_c", "VALUE = 3\nclass Plain:\n    pass\ndef make(**options):\n    return 'not a task'\n")
    importable.distribution(
        "ep_tasks_c", {"value": "ep_tasks_c:VALUE", "plain": "ep_tasks_c:Plain", "maker": "ep_tasks_c:make"}
    )
    with pytest.raises(
        SelfDiscError,
        match=r"entry point value = ep_tasks_c:VALUE is neither a Task subclass nor a "
        r"function returning a Task, but 3\.",
    ):
        get_task("value")
    with pytest.raises(SelfDiscError, match=r"names the class Plain, which is not a selfdisc_checks Task subclass\."):
        get_task("plain")
    with pytest.raises(
        SelfDiscError,
        match=r"Task 'maker' \(entry point maker = ep_tasks_c:make\) built a str, not a "
        r"selfdisc_checks Task\.",
    ):
        get_task("maker")


def test_a_user_task_that_fails_to_build_names_its_origin(importable):
    importable("ep_tasks_d", "def make(**options):\n    raise ValueError('no GPU here')\n")
    importable.distribution("ep_tasks_d", {"fails": "ep_tasks_d:make"})
    with pytest.raises(
        SelfDiscError,
        match=r"Task 'fails' \(entry point fails = ep_tasks_d:make\) could not be built "
        r"\(ValueError: no GPU here\)\.",
    ):
        get_task("fails")
    importable("ep_tasks_e", MODULE)
    with pytest.raises(SelfDiscError, match=r"Task 'additions' does not accept these options"):
        get_task("additions", task_modules=["ep_tasks_e"], colour="red")


def test_a_name_defined_twice_is_refused(importable, tmp_path):
    importable("ep_tasks_f", MODULE)
    importable.distribution("ep_tasks_f", {"gsm8k": "ep_tasks_f:Additions"})
    with pytest.raises(
        SelfDiscError,
        match=r"^Task name 'gsm8k' is defined twice: by the built-in tasks and by entry point "
        r"gsm8k = ep_tasks_f:Additions; rename one of them",
    ):
        task_names()


def test_two_distributions_may_not_share_a_name(importable):
    importable("ep_tasks_g", MODULE)
    importable.distribution("ep_tasks_g", {"sums": "ep_tasks_g:Additions"})
    importable.distribution("ep_tasks_h", {"sums": "ep_tasks_g:make_products"})
    with pytest.raises(
        SelfDiscError,
        match=r"Task name 'sums' is defined twice: by entry point sums = "
        r"ep_tasks_g:.* and by entry point sums = ep_tasks_g:.*; uninstall or rename",
    ):
        task_names()


def test_task_modules_expose_their_named_task_subclasses(importable):
    importable("user_tasks_a", MODULE)
    assert "additions" not in task_names()  # only when asked for
    names = task_names(task_modules=["user_tasks_a"])
    assert (
        "additions" in names and "" not in names and names.count("arithmetic") == 1
    )  # imported classes are not exposed
    assert get_task("additions", task_modules=["user_tasks_a"]).operators == "+"
    assert task_registry(["user_tasks_a"])["additions"].origin == "module user_tasks_a"


def test_a_tasks_dict_lists_exactly_what_a_module_exposes(importable):
    importable("user_tasks_b", MODULE + "\nTASKS = {'products': make_products, 'adds': Additions}\n")
    names = set(task_names(task_modules=["user_tasks_b"]))
    assert {"products", "adds"} <= names and "additions" not in names
    assert get_task("adds", task_modules=["user_tasks_b"]).name == "adds"


@pytest.mark.parametrize(
    "source, message",
    [
        (
            "import nowhere_at_all\n",
            r"^Task module 'user_tasks_c' from task_modules in \[tool.selfdisc\] could not be "
            r"imported \(ModuleNotFoundError: No module named 'nowhere_at_all'\)\.$",
        ),  # a dependency: no hint
        ("1 / 0\n", r"could not be imported \(ZeroDivisionError: division by zero\)\.$"),
        ("X = 1\n", r"^Task module 'user_tasks_c' exposes no task; give it a TASKS dict"),
        ("TASKS = ['a']\n", r"TASKS must be a dict of task name -> Task subclass or factory, not list\."),
        ("TASKS = {'t': 3}\n", r"^Task 't' in module user_tasks_c is neither a Task subclass nor a function"),
        (
            MODULE + "TASKS = {'bad name': make_products}\n",
            r"Task name 'bad name' \(module user_tasks_c\) may hold only",
        ),
        ("from selfdisc_checks.tasks.base import Task\nTASKS = {'t': Task}\n", r"names the abstract class Task"),
    ],
)
def test_bad_task_modules_are_one_sentence(importable, source, message):
    importable("user_tasks_c", source)
    with pytest.raises(SelfDiscError, match=message):
        task_names(task_modules=["user_tasks_c"])


def test_a_module_that_does_not_exist_says_so(importable):
    with pytest.raises(
        SelfDiscError,
        match=r"Task module 'no_such_tasks' .*\(ModuleNotFoundError: No module named "
        r"'no_such_tasks'\); install it, or put it in the folder of pyproject\.toml",
    ):
        task_names(task_modules=["no_such_tasks"])


def test_a_task_module_in_the_project_folder_needs_no_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the folder is appended to sys.path; undo that afterwards
    monkeypatch.delitem(sys.modules, "project_tasks", raising=False)
    (tmp_path / "project_tasks").mkdir()
    (tmp_path / "project_tasks" / "__init__.py").write_text("")
    (tmp_path / "project_tasks" / "tasks.py").write_text(MODULE)
    with pytest.raises(SelfDiscError, match="could not be imported"):
        task_names(task_modules=["project_tasks.tasks"])  # not installed, and no project folder given
    assert "additions" in task_registry(["project_tasks.tasks"], base=tmp_path)
    assert sys.path[-1] == str(tmp_path.resolve())
    assert get_task("additions", task_modules=["project_tasks.tasks"]).operators == "+"  # importable from now on
    for name in ("project_tasks.tasks", "project_tasks"):
        sys.modules.pop(name, None)


def test_module_and_declarative_names_may_not_collide(importable, tmp_path):
    importable("user_tasks_d", MODULE)
    definitions = {"additions": parse_definition("additions", BASE, tmp_path)}
    with pytest.raises(
        SelfDiscError,
        match=r"Task name 'additions' is defined twice: by module user_tasks_d and by "
        r"\[tool.selfdisc.tasks.additions\]",
    ):
        task_names(task_modules=["user_tasks_d"], task_definitions=definitions)


def test_definitions_may_be_raw_tables_and_unknown_names_list_user_tasks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "qa.jsonl", [{"q": "x", "a": "y"}])
    task = get_task("mine", task_definitions={"mine": BASE})  # a raw table, relative to the current folder
    assert isinstance(task, DeclarativeTask) and task.name == "mine" and task.load()[0].reference == "y"
    with pytest.raises(SelfDiscError, match=r"^Unknown task 'mien'; choose one of: arithmetic, .*\bmine\b"):
        get_task("mien", task_definitions={"mine": BASE})
    assert isinstance(parse_definition("mine", BASE, tmp_path), TaskDefinition)


def test_the_registry_is_computed_from_its_inputs(tmp_path):
    definitions = {"mine": parse_definition("mine", BASE, tmp_path)}
    assert "mine" in task_names(task_definitions=definitions)
    assert "mine" not in task_names()  # nothing was remembered
    assert re.fullmatch(r"\[tool.selfdisc.tasks.mine\]", task_registry((), definitions)["mine"].origin)


def test_the_table_keys_come_from_one_model():
    from selfdisc_checks.tasks.declarative import KEYS, REQUIRED, TaskTable

    assert set(KEYS) == {"data", "config", "split", "question", "answer", "choices", "metric", "prompt", "shots"} | {
        "stop",
        "max_new_tokens",
    }
    assert REQUIRED == ("data", "question", "answer", "metric")
    assert set(TaskTable.model_json_schema()["required"]) == set(REQUIRED)
