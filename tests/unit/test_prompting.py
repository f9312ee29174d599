"""Prompt rendering: plain few-shot text and chat turns carry the same demonstrations."""

from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks import Prompt, build_discrimination_prompt, get_task
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


def test_discrimination_prompt_numbers_the_candidates_and_keeps_demos():
    task = get_task("gsm8k")
    prompt = build_discrimination_prompt("How many?", ["It is 3.", "It is\n\n4."], task.discrimination_demos(), task.discrimination_instruction)
    assert len(prompt.shots) == 2
    assert "(1) It is 3.\n(2) It is 4.\n" in prompt.query  # multi-line candidates are flattened to one line
    assert prompt.query.endswith("Give the option number on the last line.")
    assert all(answer.splitlines()[-1].startswith("Answer: (") for _, answer in prompt.shots)
