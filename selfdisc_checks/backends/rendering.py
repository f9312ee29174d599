"""Turning a backend-neutral ``Prompt`` into the text a model reads.

Chat models get the demonstrations as alternating user/assistant turns through the tokenizer's chat
template; plain models get ``question\\nA: answer`` blocks separated by blank lines, ending with the
answer prefix so the model's continuation is its answer.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from selfdisc_checks.records import Prompt

# What the rendered text depends on besides the prompt and the checkpoint's tokenizer files (which the
# fingerprint covers): these renderers (bump the number when they change) and transformers' chat templating.
RENDERING = {"renderers": 1, "transformers": metadata.version("transformers")}


def render_plain(prompt: Prompt) -> str:
    prefix = prompt.answer_prefix

    def answer_line(answer: str) -> str:
        return f"{prefix} {answer}" if prefix else answer

    blocks = [prompt.system] if prompt.system else []
    blocks += [f"{user}\n{answer_line(answer)}" for user, answer in prompt.shots]
    blocks.append(f"{prompt.query}\n{prefix}" if prefix else f"{prompt.query}\n")
    return "\n\n".join(blocks)


def chat_messages(prompt: Prompt) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
    for user, answer in prompt.shots:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": prompt.query})
    return messages


def render_chat(tokenizer: Any, prompt: Prompt) -> str:
    return tokenizer.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)
