"""The two model families the paper compares, plus a chat-template checkpoint, each end to end."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

from conftest import FIXTURE, assert_checks_ran
from selfdisc_checks import HFBackend, Prompt, locate_checkpoint

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture
def chat_checkpoint(fixture_copy):
    config_path = fixture_copy / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(config))
    return fixture_copy


def test_a_chat_template_renders_demonstrations_as_turns(chat_checkpoint):
    backend = HFBackend(locate_checkpoint(str(chat_checkpoint)))
    assert backend.uses_chat_template
    text = backend.render(Prompt(query="Q: 1+1=", shots=(("Q: 2+2=", "4"),), answer_prefix="A:"))
    assert text == "<|user|>Q: 2+2=</s>\n<|assistant|>4</s>\n<|user|>Q: 1+1=</s>\n<|assistant|>"


def test_chat_checkpoint_end_to_end(project, chat_checkpoint):
    result, document = project.run(f"--model={chat_checkpoint}", "--limit", "4", "--samples", "2", "-rs")
    assert_checks_ran(result)
    questions = document["tasks"]["arithmetic"]["questions"]
    assert len(questions) == 4 and all(len(q["candidates"]) == 2 for q in questions)


@pytest.fixture
def t5_checkpoint(tmp_path):
    """A tiny random encoder-decoder (the paper's Flan-T5 family), with the fixture's tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(FIXTURE)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path / "t5"
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_encoder_decoder_end_to_end(project, t5_checkpoint):
    result, document = project.run(f"--model={t5_checkpoint}", "--limit", "4", "--samples", "3", "-rs")
    assert_checks_ran(result)  # the project's thresholds admit any measurement: this checks it runs
    assert document["tasks"]["arithmetic"]["metrics"]["n"] == 4
    assert all(len(q["candidates"]) == 3 for q in document["tasks"]["arithmetic"]["questions"])


def test_encoder_decoder_samples_are_seeded_per_candidate(t5_checkpoint):
    backend = HFBackend(locate_checkpoint(str(t5_checkpoint)))
    from selfdisc_checks import DecodeSpec, Sampling

    spec = DecodeSpec(max_new_tokens=6)
    together = backend.sample(["Q: 1+2=\nA:", "Q: 3*4=\nA:"], [[1, 2], [3, 4]], Sampling(1.0), spec)
    alone = backend.sample(["Q: 3*4=\nA:"], [[3, 4]], Sampling(1.0), spec)
    assert together[1] == alone[0]


def test_checkpoint_code_never_runs_without_opt_in(fixture_copy, tmp_path):
    marker = tmp_path / "ran"
    (fixture_copy / "configuration_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\n"
        "from transformers import LlamaConfig\nclass EvilConfig(LlamaConfig):\n    model_type = 'evil'\n"
    )
    config_path = fixture_copy / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    config["model_type"] = "evil"
    config_path.write_text(json.dumps(config))
    from selfdisc_checks import SelfDiscError

    backend = HFBackend(locate_checkpoint(str(fixture_copy)))
    backend.render(Prompt(query="Q: 1+1="))  # the tokenizer needs no checkpoint code
    with pytest.raises(SelfDiscError, match="needs its own Python code.*rerun with --trust-remote-code"):
        _ = backend.model
    assert not marker.exists()
