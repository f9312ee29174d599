"""Prompt rendering: plain few-shot text and chat turns carry the same demonstrations."""

from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks import Example, Prompt, build_discrimination_prompt, get_task, parse_choice
from selfdisc_checks.backends.rendering import chat_messages, render_plain

words = st.text(alphabet="abc 123+=?", min_size=1, max_size=15)


def test_plain_rendering_ends_where_the_answer_goes():
    task = get_task("arithmetic")
    text = render_plain(task.prompt(task.load(limit=1)[0]))
    blocks = text.split("\n\n")
    assert len(blocks) == 3 and blocks[-1].endswith("\nA:")
    assert all(block.startswith("Q: ") for block in blocks)


@given(st.lists(st.tuples(words, words), max_size=4), words)
def test_chat_turns_alternate_and_end_with_the_query(shots, query):
    messages = chat_messages(Prompt(query=query, shots=tuple(shots)))
    assert [m["role"] for m in messages] == ["user", "assistant"] * len(shots) + ["user"]
    assert messages[-1]["content"] == query


def test_paper_prompt_shows_whole_candidates_and_ends_with_the_final_choice():
    task = get_task("gsm8k")
    assert task.discrimination_prompt == "paper"
    prompt = build_discrimination_prompt(
        "How many?", ["It is 3.", "It is\n\n4."], task.discrimination_demos(), task.discrimination_instruction, "paper"
    )
    assert len(prompt.shots) == 2  # the paper's two GSM8K demonstrations
    assert "(1) It is 3.\n\n(2) It is\n\n4.\n\n" in prompt.query  # line breaks kept
    assert prompt.query.endswith(task.discrimination_instruction)
    for user, answer in prompt.shots:
        assert answer.splitlines()[-2] == "Therefore, the final choice is:"
        assert parse_choice(answer, user.count("\n(") + user.startswith("(")) is not None
        assert answer.splitlines()[-1].startswith("### ")


def test_compact_variant_keeps_the_first_layout():
    task = get_task("gsm8k", discrimination_prompt="compact")
    prompt = build_discrimination_prompt(
        "How many?",
        ["It is 3.", "It is\n\n4."],
        task.discrimination_demos(),
        task.discrimination_instruction,
        "compact",
    )
    assert "(1) It is 3.\n(2) It is 4.\n" in prompt.query  # multi-line candidates are flattened to one line
    assert prompt.query.endswith("Give the option number on the last line.")
    assert all(answer.splitlines()[-1].startswith("Answer: (") for _, answer in prompt.shots)


def test_every_demonstration_picks_a_right_option():
    for variant in ("paper", "compact"):
        task = get_task("gsm8k", discrimination_prompt=variant)
        for demo in task.discrimination_demos():
            index = parse_choice(demo.response, len(demo.options))
            assert index is not None, demo.response
            assert task.extract(demo.options[index])[0] == str(_solve(demo.question))


def _solve(question):
    return {"sheep": 26, "ticket": 32}["sheep" if "sheep" in question else "ticket"]


def test_gsm8k_generation_prompt_is_the_harness_layout():
    task = get_task("gsm8k")
    text = render_plain(task.prompt(Example("q", "How many eggs?", "3")))
    blocks = text.split("\n\n")
    assert len(blocks) == 6 and blocks[-1] == "Question: How many eggs?\nAnswer:"
    for block in blocks[:-1]:
        question, answer = block.split("\nAnswer: ", 1)
        assert question.startswith("Question: ") and answer.splitlines()[-1].startswith("#### ")
    assert task.generation.stop == ("Question:", "</s>", "<|im_end|>") and task.generation.max_new_tokens == 256
