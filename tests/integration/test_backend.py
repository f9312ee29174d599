"""The HF backend on the real fixture checkpoint: batching and prefix caching change no candidate."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig, LogitsProcessorList

from conftest import FIXTURE
from selfdisc_checks import DecodeSpec, HFBackend, Sampling, SelfDiscError, get_task, locate_checkpoint
from selfdisc_checks.backends.sampler import SeededSampler
from selfdisc_checks.records import DecodeSpec as Spec


@pytest.fixture(scope="module")
def backend():
    return HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")


@pytest.fixture(scope="module")
def prompts(backend):
    task = get_task("arithmetic")
    return [backend.render(task.prompt(example)) for example in task.load(limit=6)]


SPEC = Spec(max_new_tokens=8, stop=("\n",))


def test_a_questions_candidates_do_not_depend_on_its_batch(backend, prompts):
    seeds = [[10 * i + j for j in range(4)] for i in range(len(prompts))]
    together = backend.sample(prompts, seeds, Sampling(0.7), SPEC)
    for i in (0, 3, 5):
        assert backend.sample([prompts[i]], [seeds[i]], Sampling(0.7), SPEC)[0] == together[i]
    assert backend.sample(prompts[::-1], seeds[::-1], Sampling(0.7), SPEC) == together[::-1]


def test_prefix_cached_sampling_equals_plain_generate(backend, prompts):
    """The prompt is processed once for its N samples; the result is what plain generate would give."""
    seeds = [[1, 2, 3], [4, 5, 6]]
    cached = backend.sample(prompts[:2], seeds, Sampling(0.9), DecodeSpec(max_new_tokens=8))
    tokenizer, model = backend.tokenizer, backend.model
    encoded = tokenizer(prompts[:2], return_tensors="pt", padding=True)
    rows = torch.tensor([0, 0, 0, 1, 1, 1])
    config = GenerationConfig(
        do_sample=False, max_new_tokens=8, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id
    )
    length = encoded["input_ids"].shape[1]
    sampler = SeededSampler([1, 2, 3, 4, 5, 6], Sampling(0.9))
    output = model.generate(
        input_ids=encoded["input_ids"][rows],
        attention_mask=encoded["attention_mask"][rows],
        generation_config=config,
        logits_processor=LogitsProcessorList([sampler]),
    )
    plain = tokenizer.batch_decode(output[:, length:], skip_special_tokens=True)
    assert [c.text for group in cached for c in group] == plain


def test_temperature_changes_and_seeds_reproduce(backend, prompts):
    a = backend.sample(prompts[:3], [[1, 2, 3, 4]] * 3, Sampling(0.7), SPEC)
    assert a == backend.sample(prompts[:3], [[1, 2, 3, 4]] * 3, Sampling(0.7), SPEC)
    greedy = backend.sample(prompts[:3], [[1, 2, 3, 4]] * 3, Sampling(0.0), SPEC)
    assert all(
        len({c.text for c in group}) == 1 for group in greedy
    )  # temperature 0: every candidate is the greedy one
    assert greedy[0][0] == backend.greedy(prompts[:1], SPEC)[0]


def test_stop_strings_cut_the_completion(backend, prompts):
    for completion in backend.greedy(prompts, Spec(max_new_tokens=20, stop=("\n",))):
        assert "\n" not in completion.text


def test_a_tokenizer_without_pad_token_pads_with_eos(fixture_copy):
    import json

    config_path = fixture_copy / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("pad_token", None)
    config_path.write_text(json.dumps(config))
    backend = HFBackend(locate_checkpoint(str(fixture_copy)), device="cpu")
    assert backend.tokenizer.pad_token == backend.tokenizer.eos_token == "</s>"
    assert backend.tokenizer.padding_side == "left"
    task = get_task("arithmetic")
    prompts = [backend.render(task.prompt(e)) for e in task.load(limit=3)]
    assert len(backend.sample(prompts, [[1, 2]] * 3, Sampling(0.7), SPEC)) == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_asking_for_cuda_without_it_is_one_clear_sentence():
    from selfdisc_checks import SelfDiscError
    from selfdisc_checks.backends.hf import resolve_device

    with pytest.raises(SelfDiscError, match="CUDA is not available; use --device cpu or auto"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == "cpu"


def test_completions_say_whether_the_token_limit_cut_them(backend, prompts):
    cut = backend.greedy(prompts[:3], Spec(max_new_tokens=1))
    finished = backend.greedy(prompts[:3], Spec(max_new_tokens=20, stop=("\n",)))
    assert all(c.truncated for c in cut)
    assert not any(c.truncated for c in finished)


def test_loaded_model_keeps_only_special_token_ids_of_its_generation_config(backend):
    config = backend.model.generation_config.to_diff_dict()
    assert set(config) - {"transformers_version"} <= {
        "eos_token_id",
        "pad_token_id",
        "bos_token_id",
        "decoder_start_token_id",
    }


def _continuation_logprob(backend, prompt: str, continuation: str) -> float:
    """log P(continuation | prompt) summed over its tokens, by one plain forward pass over the whole text."""
    ids = backend.tokenizer(prompt + continuation, return_tensors="pt")["input_ids"]
    start = len(backend.tokenizer(prompt)["input_ids"])
    with torch.no_grad():
        logprobs = torch.log_softmax(backend.model(input_ids=ids).logits[0].float(), dim=-1)
    return float(sum(logprobs[t - 1, ids[0, t]] for t in range(start, ids.shape[1])))


def test_label_logprobs_equal_a_plain_forward_pass(backend):
    task = get_task("arithmetic")
    examples = task.load(limit=3)
    texts = [backend.render(task.discrimination_prompt_for(ex, ["1", "2", "3", "4"])) for ex in examples]
    lead, labels = task.label_continuations(4)
    assert (lead, labels) == ("", ["(1)", "(2)", "(3)", "(4)"])
    scores = backend.option_logprobs(texts, [labels] * 3)
    for text, row in zip(texts, scores, strict=False):
        # The labels share "(" and differ in the digit: the score is the digit's log-probability after "(".
        expected = [_continuation_logprob(backend, text + "(", str(i)) for i in range(1, 5)]
        assert row == pytest.approx(expected, abs=1e-4)
    # Each prompt's scores do not depend on its batch.
    assert backend.option_logprobs(texts[1:2], [labels]) == [pytest.approx(scores[1], abs=1e-5)]


def test_labels_that_begin_one_another_are_scored_in_full(backend):
    # One character per token: after the shared "(", "(1" is "1" and "(12" is "1", "2": the first token does
    # not tell them apart, so each label's tokens are scored in full.
    task = get_task("arithmetic")
    text = backend.render(task.discrimination_prompt_for(task.load(limit=1)[0], ["1", "2"]))
    (scores,) = backend.option_logprobs([text], [["(1", "(12"]])
    expected = [_continuation_logprob(backend, text + "(", tail) for tail in ("1", "12")]
    assert scores == pytest.approx(expected, abs=1e-4) and scores[1] < scores[0]
    # Labels told apart further on ("(1)" and "(10)" differ first at ")" against "0") are scored there.
    (scores,) = backend.option_logprobs([text], [["(1)", "(10)"]])
    expected = [_continuation_logprob(backend, text + "(1", tail) for tail in (")", "0")]
    assert scores == pytest.approx(expected, abs=1e-4)


def test_finished_rows_leave_the_batch_and_change_no_candidate(backend, prompts):
    """Rows that end early stop costing steps; every row's text is still what plain generate gives."""
    seeds = [[7 * i + j for j in range(4)] for i in range(len(prompts))]
    spec = Spec(max_new_tokens=12, stop=("\n",))
    before = backend.counters["row_steps"]
    ours = backend.sample(prompts, seeds, Sampling(1.5), spec)  # a hot temperature: lengths vary a lot
    row_steps = backend.counters["row_steps"] - before

    tokenizer, model = backend.tokenizer, backend.model
    encoded = tokenizer(prompts, return_tensors="pt", padding=True)
    rows = torch.arange(len(prompts)).repeat_interleave(4)
    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=12,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        stop_strings=["\n"],
    )
    sampler = SeededSampler([seed for group in seeds for seed in group], Sampling(1.5))
    output = model.generate(
        input_ids=encoded["input_ids"][rows],
        attention_mask=encoded["attention_mask"][rows],
        generation_config=config,
        logits_processor=LogitsProcessorList([sampler]),
        tokenizer=tokenizer,
    )
    generated = output[:, encoded["input_ids"].shape[1] :]
    plain = [text.split("\n")[0] for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
    assert [c.text for group in ours for c in group] == plain
    # generate decodes every row until the last one ends; here a row costs only its own steps.
    steps_of_generate = generated.shape[0] * generated.shape[1]
    assert row_steps < steps_of_generate, (row_steps, steps_of_generate)


def test_a_tiny_memory_budget_splits_batches_and_changes_no_candidate(backend, prompts):
    seeds = [[7 * i + j for j in range(4)] for i in range(len(prompts))]
    spec = Spec(max_new_tokens=12, stop=("\n",))
    unconstrained = backend.sample(prompts, seeds, Sampling(1.0), spec)
    one_row = 2 * 3 * 4 * 32 * 4 * (38 + 12)  # fixture: K and V x 3 layers x 4 heads x 32 dims x float32 x tokens
    tight = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu", memory_budget=3 * one_row)
    assert tight.sample(prompts, seeds, Sampling(1.0), spec) == unconstrained
    assert tight.counters["splits"] >= 7  # 24 rows into batches of at most 2: halved again and again
    assert tight.greedy(prompts, spec) == backend.greedy(prompts, spec)
    hopeless = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu", memory_budget=one_row / 10)
    with pytest.raises(SelfDiscError, match="One row of .* does not fit the memory budget .* --memory-budget"):
        hopeless.greedy(prompts[:2], spec)


class DeviceMemory:
    """A device that holds at most ``rows`` rows: a forward pass over more raises torch's own out-of-memory
    error, but only after ``after`` passes, so it strikes mid-decoding, once some rows have finished."""

    def __init__(self, model, rows: int, after: int = 0) -> None:
        self.rows, self.after, self.passes, self.raised = rows, after, 0, 0
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        self.passes += 1
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[0] > self.rows and self.passes > self.after:
            self.raised += 1
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB ({ids.shape[0]} rows)")

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    def __enter__(self):
        return self


def test_running_out_of_device_memory_mid_batch_halves_it_and_changes_no_candidate(backend, prompts):
    seeds = [[7 * i + j for j in range(4)] for i in range(len(prompts))]
    spec = Spec(max_new_tokens=12, stop=("\n",))
    expected = backend.sample(prompts, seeds, Sampling(1.5), spec)
    small = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    for after in (1, 2, 3, 4):  # 24 rows start; a few passes in, some rows (and questions) have ended
        handed: list[tuple[int, list]] = []
        with DeviceMemory(small.model, rows=5, after=after) as memory:
            got = small.sample(
                prompts,
                seeds,
                Sampling(1.5),
                spec,
                done=lambda q, group, handed=handed: handed.append((q, list(group))),
            )
        assert memory.raised >= 1
        assert got == expected
        # each question handed over once, whole, with the candidates it ends with
        assert sorted(q for q, _ in handed) == list(range(len(prompts))), (after, handed)
        assert all(group == expected[q] for q, group in handed), (after, handed)


def test_device_memory_that_holds_no_row_gives_one_sentence(backend, prompts):
    none_fit = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    with DeviceMemory(none_fit.model, rows=0):
        with pytest.raises(
            SelfDiscError,
            match=r"^One row of .* does not fit the device's memory \(prompt of \d+ tokens "
            r"plus 12 new: it ran out of memory even alone\); use a device with more "
            r"free memory, or shorter prompts\.$",
        ):
            none_fit.sample(prompts[:2], [[1, 2], [3, 4]], Sampling(1.0), Spec(max_new_tokens=12, stop=("\n",)))


def test_waiting_questions_join_the_batch_as_rows_finish(backend, prompts):
    """With 8 rows in flight, 24 rows take about 24 x mean length / 8 steps (not 3 x the longest), and every
    candidate is what the one-batch run gives."""
    seeds = [[5 * i + j for j in range(4)] for i in range(len(prompts))]
    spec = Spec(max_new_tokens=12, stop=("\n",))
    together = backend.sample(prompts, seeds, Sampling(1.5), spec)
    refill = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    refill.rows_in_flight = 8
    assert refill.sample(prompts, seeds, Sampling(1.5), spec) == together
    chunks = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    for start in range(0, len(prompts), 2):  # the same 8 rows at a time, without joining
        assert (
            chunks.sample(prompts[start : start + 2], seeds[start : start + 2], Sampling(1.5), spec)
            == together[start : start + 2]
        )
    assert refill.counters["row_steps"] == chunks.counters["row_steps"]
    assert refill.counters["steps"] < chunks.counters["steps"], (refill.counters, chunks.counters)
    refill.prompts_in_flight = 2
    assert refill.greedy(prompts, spec) == backend.greedy(prompts, spec)


def test_weights_spread_over_devices_give_the_same_candidates(backend, prompts):
    """device_map="auto" (what a checkpoint larger than one GPU loads with) changes where layers run, not what
    they compute; on this machine accelerate places everything on the CPU."""
    seeds = [[3 * i + j for j in range(4)] for i in range(3)]
    spread = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu", device_map="auto")
    assert spread.sample(prompts[:3], seeds, Sampling(0.9), SPEC) == backend.sample(
        prompts[:3], seeds, Sampling(0.9), SPEC
    )
    assert spread.describe()["device"] == "spread: cpu" and backend.describe()["device"] == "cpu"


def test_parameter_count_is_read_from_the_safetensors_headers(backend):
    from selfdisc_checks.backends.checkpoint import parameter_count

    loaded = sum(parameter.numel() for parameter in backend.model.parameters())  # tied embeddings count once
    assert parameter_count(FIXTURE) == loaded


def test_only_weights_that_leave_room_for_the_cache_fit_one_device():
    from selfdisc_checks.backends.hf import fits_one_device

    assert fits_one_device(16 * 2**30, 80 * 2**30) and fits_one_device(64 * 2**30, 80 * 2**30)
    assert not fits_one_device(70 * 2**30, 80 * 2**30) and not fits_one_device(140 * 2**30, 80 * 2**30)


def test_each_questions_candidates_are_handed_over_as_soon_as_they_finish(backend, prompts):
    seeds = [[5 * i + j for j in range(3)] for i in range(len(prompts))]
    heard: list[tuple[int, list]] = []
    backend.rows_in_flight = 5  # refill: questions start and finish at different steps
    try:
        returned = backend.sample(prompts, seeds, Sampling(1.0), SPEC, done=lambda i, c: heard.append((i, list(c))))
    finally:
        backend.rows_in_flight = None
    assert sorted(i for i, _ in heard) == list(range(len(prompts)))  # each question once
    assert all(returned[i] == completions for i, completions in heard)


def test_an_interrupted_call_keeps_the_questions_that_finished(tmp_path):
    """Ctrl-C in the middle of a sampling call: the questions whose candidates were all done are in the cache,
    and a rerun samples only the others, with the same result as a run never interrupted."""
    from selfdisc_checks import Cache, Settings, evaluate_task

    backend = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    backend.rows_in_flight = 8
    task, settings = get_task("arithmetic"), Settings(model=str(FIXTURE), samples=4, limit=12, batch_size=2)
    real, stored = backend.sample, []

    def interrupted(prompts, seeds, sampling, spec, done=None):
        def relay(i, completions):
            done(i, completions)
            stored.append(i)
            if len(stored) == 3:
                raise KeyboardInterrupt

        return real(prompts, seeds, sampling, spec, done=relay)

    backend.sample = interrupted
    with pytest.raises(KeyboardInterrupt):
        evaluate_task(task, backend, Cache(tmp_path / "a"), settings)
    backend.sample = real
    resumed = evaluate_task(task, backend, Cache(tmp_path / "a"), settings)
    assert resumed.sampled == 12 - 3 and resumed.candidates_sampled == 4 * (12 - 3)
    fresh = evaluate_task(task, backend, Cache(tmp_path / "b"), settings)
    assert [q.candidates for q in resumed.questions] == [q.candidates for q in fresh.questions]
