"""The ``.gguf`` loading path on a real GGUF file: the fixture checkpoint, converted in the test.

The file is written with the ``gguf`` package the way llama.cpp's converter lays out a Llama (F32, so
nothing is lost), which makes the fixture the exact reference: the GGUF checkpoint must tokenize, score
and sample exactly as ``fixtures/tiny-arith`` does.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch

from conftest import FIXTURE, assert_checks_ran
from selfdisc_checks import DecodeSpec, HFBackend, Sampling, get_task, locate_checkpoint

gguf = pytest.importorskip("gguf")

SPECIALS = 4  # <pad> <s> </s> <unk>, then one token per character


def llama_cpp_permute(weight, heads: int):
    """llama.cpp's q/k row order (rotary pairs interleaved); transformers' GGUF loader reverses it."""
    return (
        weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def write_gguf(checkpoint: Path, path: Path) -> None:
    """Write ``checkpoint`` (a HF Llama with a char-level tokenizer) as one GGUF file.

    The tokenizer is stored as a byte-level BPE ("gpt2") vocabulary without merges: each printable ASCII
    character is its own byte-level symbol (space and newline spelled as llama.cpp spells them, ``Ġ``
    and ``Ċ``), so with no merges every character stays one token with the fixture's id. A GGUF array
    cannot be empty and transformers wants merges or scores, so the file carries zero scores, from which
    transformers derives no merges. The specials are CONTROL tokens, added whole, as in the fixture. Only
    characters outside the vocabulary differ (the fixture reads them as <unk>, this BPE drops them).
    """
    from safetensors.numpy import load_file
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    config = json.loads((checkpoint / "config.json").read_text())
    vocab = json.loads((checkpoint / "tokenizer.json").read_text())["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    spell = bytes_to_unicode()
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny-arith")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([t if i < SPECIALS else "".join(spell[b] for b in t.encode()) for i, t in enumerate(tokens)])
    writer.add_token_types(
        [gguf.TokenType.CONTROL if i < SPECIALS else gguf.TokenType.NORMAL for i in range(len(tokens))]
    )
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_pad_token_id(vocab["<pad>"])
    writer.add_bos_token_id(vocab["<s>"])
    writer.add_eos_token_id(vocab["</s>"])
    writer.add_unk_token_id(vocab["<unk>"])
    writer.add_add_bos_token(False)  # the fixture's tokenizer adds no BOS either
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    for name, weight in load_file(checkpoint / "model.safetensors").items():
        if name.endswith("q_proj.weight"):
            weight = llama_cpp_permute(weight, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            weight = llama_cpp_permute(weight, config["num_key_value_heads"])
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight",)), weight)  # tied: no output.weight
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory) -> Path:
    """A folder holding nothing but the .gguf: config, tokenizer and weights can only come from it."""
    path = tmp_path_factory.mktemp("gguf") / "tiny-arith-f32.gguf"
    write_gguf(FIXTURE, path)
    return path


@pytest.fixture(scope="module")
def backends(gguf_path):
    return (
        HFBackend(locate_checkpoint(str(gguf_path)), device="cpu", dtype="float32"),
        HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu", dtype="float32"),
    )


@pytest.fixture(scope="module")
def prompts(backends):
    task = get_task("arithmetic")
    return [backends[1].render(task.prompt(example)) for example in task.load(limit=6)]


SPEC = DecodeSpec(max_new_tokens=8, stop=("\n",))


def test_gguf_file_is_located_and_tokenizes_like_the_fixture(backends, prompts, gguf_path):
    ours, ref = backends
    assert ours.checkpoint.gguf_file == gguf_path.name and ours.checkpoint.folder == gguf_path.parent
    assert not ours.uses_chat_template  # so it renders plain prompts, exactly as the fixture does
    # Every character the fixture has a token for (printable ASCII, the vocabulary), and the task prompts.
    alphabet = "".join(sorted(set(string.printable) - set("\t\r\x0b\x0c")))
    for text in [*prompts, alphabet, "Q: 3+4=\nA:"]:
        ids = ours.tokenizer(text)["input_ids"]
        assert ids == ref.tokenizer(text)["input_ids"]
        assert ours.tokenizer.decode(ids, skip_special_tokens=True) == text
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
        assert getattr(ours.tokenizer, name) == getattr(ref.tokenizer, name), name


def test_gguf_logits_match_the_fixture(backends, prompts):
    """Weights, q/k un-permutation, tied head, norms and rope settings all survive the round trip."""
    ours, ref = backends
    assert ours.model.config.tie_word_embeddings and ours.model.config.vocab_size == ref.model.config.vocab_size
    encoded = ref.tokenizer(prompts[:4], return_tensors="pt", padding=True)
    with torch.inference_mode():
        expected = ref.model(**encoded).logits
        got = ours.model(**encoded).logits
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_gguf_samples_and_greedy_match_the_fixture(backends, prompts):
    ours, ref = backends
    seeds = [[10 * i + j for j in range(3)] for i in range(len(prompts))]
    assert ours.sample(prompts, seeds, Sampling(0.7), SPEC) == ref.sample(prompts, seeds, Sampling(0.7), SPEC)
    assert ours.greedy(prompts, SPEC) == ref.greedy(prompts, SPEC)


def test_gguf_checkpoint_end_to_end(project, gguf_path):
    """``pytest --model x.gguf`` runs the three checks and records the same answers as the fixture."""
    result, document = project.run(f"--model={gguf_path}", "--limit", "4", "--samples", "2", "-rs")
    assert_checks_ran(result)
    assert document["model"]["id"] == str(gguf_path)
    task = document["tasks"]["arithmetic"]
    assert len(task["questions"]) == 4 and task["run"]["sampled"] == 4
    # transformers' own de-quantizing bar stays out of the log (our loading lines say what is happening)
    assert "de-quantizing" not in result.stdout.str() + result.stderr.str()
    _, reference = project.run(f"--model={FIXTURE}", "--limit", "4", "--samples", "2")
    assert document["model"]["fingerprint"] != reference["model"]["fingerprint"]
    assert task["questions"] == reference["tasks"]["arithmetic"]["questions"]
