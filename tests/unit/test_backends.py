"""The backend registry (built-ins, entry points, one sentence for an unknown name), the scripted backend's
scripts, and sessions whose models (under test and judge) come from the registry."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.backends import registry
from selfdisc_checks.backends.base import Backend
from selfdisc_checks.backends.registry import BackendOptions
from selfdisc_checks.backends.scripted import Request, ScriptedBackend
from selfdisc_checks.errors import SelfDiscError
from selfdisc_checks.records import DecodeSpec, Prompt, Sampling
from selfdisc_checks.session import EvaluationSession, ModelSpec, model_specs
from selfdisc_checks.settings import OPTIONS, Settings, resolve_settings

REPO = Path(__file__).resolve().parents[2]
SPEC = DecodeSpec(max_new_tokens=8, stop=("\n",))


# --- the registry ---------------------------------------------------------------------------------------


def test_the_built_in_backends_are_known_without_reinstalling():
    assert {"hf", "ray", "vllm", "scripted"} <= set(registry.names())


def test_pyproject_registers_the_built_ins_under_the_entry_point_group():
    import tomllib

    table = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][registry.GROUP]
    assert table == registry.BUILTIN


def test_an_unknown_backend_is_one_sentence_naming_the_installed_ones():
    with pytest.raises(SelfDiscError) as caught:
        registry.factory("tgi")
    message = str(caught.value)
    assert message.startswith("--backend 'tgi' is not an installed backend; choose one of hf, ray, scripted, vllm")
    assert message.count(".") <= 2 and "\n" not in message


class FakeEntryPoint:
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value


def fake_backend(model, options):
    return ScriptedBackend(respond=lambda request: "hello", fingerprint=f"fake-{model}", described_as=options.option)


def test_a_third_party_backend_is_found_through_its_entry_point(monkeypatch):
    points = [FakeEntryPoint("fake", f"{__name__}:fake_backend"), FakeEntryPoint("hf", "elsewhere:create")]

    def entry_points(group=None):
        assert group == registry.GROUP
        return points

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    assert "fake" in registry.names()
    assert registry.installed()["hf"] == registry.BUILTIN["hf"]  # a built-in name cannot be taken
    backend = registry.create("fake", "m", BackendOptions(option="--judge-model"))
    assert backend.fingerprint == "fake-m" and backend.described_as == "--judge-model"
    registry.check_name("fake")


def test_a_real_distribution_on_sys_path_registers_a_backend(tmp_path, monkeypatch):
    info = tmp_path / "fakebackend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebackend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\nfromdisk = {__name__}:fake_backend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fromdisk" in registry.names()
    assert registry.create("fromdisk", "x", BackendOptions()).fingerprint == "fake-x"


def test_a_factory_that_cannot_be_imported_is_named(monkeypatch):
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [FakeEntryPoint("broken", "no_such_mod:create")])
    with pytest.raises(SelfDiscError, match=r"--backend broken: its factory no_such_mod:create cannot be loaded"):
        registry.factory("broken")


def test_loading_the_registry_and_choosing_a_backend_import_no_torch():
    code = (
        "import sys\n"
        "from selfdisc_checks.backends import registry\n"
        "from selfdisc_checks import session\n"
        "registry.names(); registry.factory('hf'); registry.factory('scripted')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_the_settings_refuse_an_unknown_backend_and_judge_backend():
    for option in ("--backend", "--judge-backend"):
        key = option.removeprefix("--").replace("-", "_")
        with pytest.raises(SelfDiscError, match=f"^{option} 'nope' is not an installed backend"):
            resolve_settings({key: "nope"}, {}, Path("."))


def test_judge_backend_is_an_option():
    assert OPTIONS["judge_backend"][0] == "--judge-backend"
    assert resolve_settings({"judge_backend": "scripted"}, {}, Path(".")).judge_backend == "scripted"


# --- the scripted backend -------------------------------------------------------------------------------


def test_the_scripted_backend_is_a_backend():
    assert isinstance(ScriptedBackend(), Backend)


def test_rendering_needs_no_tokenizer():
    prompt = Prompt("Q: 1+1=", shots=(("Q: 2+2=", "4"),), system="Sums.", answer_prefix="A:")
    assert ScriptedBackend().render(prompt) == "Sums.\n\nQ: 2+2=\nA: 4\n\nQ: 1+1=\nA:"


def test_table_rules_answer_by_kind_match_and_seed():
    backend = ScriptedBackend(
        rules=[
            {"kind": "sample", "match": r"Q: (\d+)\+", "replies": ["{1} one\nignored", "two"]},
            {"kind": "greedy", "match": "Which", "reply": "(2)"},
            {"kind": "likelihood", "reply": "(3)"},
        ],
        default={"greedy": "none"},
    )
    [[a, b, c]] = backend.sample(["Q: 7+1="], [[4, 5, 6]], Sampling(0.7), SPEC)
    assert (a.text, b.text, c.text) == ("7 one", "two", "7 one")  # replies[seed % 2], cut at the stop
    assert [c.text for c in backend.greedy(["Which is it?", "other"], SPEC)] == ["(2)", "none"]
    assert backend.option_logprobs(["p"], [["(1)", "(2)", "(3)"]]) == [[-1.0, -1.0, 0.0]]


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=6))
def test_a_candidate_depends_only_on_its_seed(seeds):
    backend = ScriptedBackend(respond=lambda r: f"s{r.seed}" if r.kind == "sample" else None)
    together = backend.sample(["p"], [seeds], Sampling(0.7), SPEC)[0]
    alone = [backend.sample(["p"], [[seed]], Sampling(0.7), SPEC)[0][0] for seed in reversed(seeds)]
    assert [c.text for c in together] == [c.text for c in reversed(alone)]


def test_respond_falls_through_to_the_rules_and_its_errors_are_one_sentence():
    backend = ScriptedBackend(respond=lambda r: None, rules=[{"reply": "ruled"}])
    assert backend.greedy(["x"], SPEC)[0].text == "ruled"

    def broken(request: Request) -> str:
        raise KeyError("boom")

    with pytest.raises(SelfDiscError, match=r"raised KeyError .* on a greedy request; fix its respond"):
        ScriptedBackend(respond=broken).greedy(["x"], SPEC)
    with pytest.raises(SelfDiscError, match="scored 1 options where the prompt has 2"):
        ScriptedBackend(respond=lambda r: [0.0]).option_logprobs(["x"], [["a", "b"]])


@pytest.mark.parametrize(
    "script, message",
    [
        ("{", "is not JSON"),
        ('{"rules": [{"kind": "sample"}]}', "needs exactly one of reply, replies or scores"),
        ('{"rules": [{"kind": "guess", "reply": "x"}]}', "kind 'guess' is not one of sample, greedy, likelihood"),
        ('{"rules": [{"match": "(", "reply": "x"}]}', "is not a regular expression"),
        ('{"rules": [], "extra": 1}', "unknown keys extra"),
        ('{"rules": [{"reply": "x", "colour": 1}]}', "unknown keys colour"),
        ('{"default": {"sampel": ""}}', "unknown kinds sampel"),
    ],
)
def test_a_bad_json_script_is_one_sentence(tmp_path, script, message):
    path = tmp_path / "s.json"
    path.write_text(script)
    with pytest.raises(SelfDiscError, match=message):
        ScriptedBackend.from_file(path)


def test_bad_script_files_are_one_sentence(tmp_path):
    with pytest.raises(SelfDiscError, match="does not exist; --backend scripted needs a .json or .py script"):
        ScriptedBackend.from_file(tmp_path / "missing.json")
    (tmp_path / "s.txt").write_text("")
    with pytest.raises(SelfDiscError, match="neither a .json nor a .py script"):
        ScriptedBackend.from_file(tmp_path / "s.txt")
    (tmp_path / "s.py").write_text("raise ValueError('no')\n")
    with pytest.raises(SelfDiscError, match=r"failed to load \(ValueError: no\)"):
        ScriptedBackend.from_file(tmp_path / "s.py")
    (tmp_path / "t.py").write_text("X = 1\n")
    with pytest.raises(SelfDiscError, match=r"defines neither respond\(request\) nor RULES"):
        ScriptedBackend.from_file(tmp_path / "t.py")


def test_the_fingerprint_follows_the_script(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("def respond(request):\n    return 'a'\n")
    first = ScriptedBackend.from_file(path).fingerprint
    assert ScriptedBackend.from_file(path).fingerprint == first
    path.write_text("def respond(request):\n    return 'b'\n")
    assert ScriptedBackend.from_file(path).fingerprint != first
    assert ScriptedBackend(respond=lambda r: "a").fingerprint != ScriptedBackend(respond=lambda r: "b").fingerprint
    assert ScriptedBackend(rules=[{"reply": "a"}]).fingerprint != ScriptedBackend(rules=[{"reply": "b"}]).fingerprint


# --- sessions: every model through the registry ---------------------------------------------------------


def arithmetic_json(tmp_path: Path, reply: str, name: str) -> str:
    path = tmp_path / name
    rules = [{"kind": "sample", "reply": reply}, {"kind": "greedy", "reply": "(1)"}]
    path.write_text(json.dumps({"rules": rules}))
    return str(path)


def test_a_session_runs_the_model_under_test_on_the_scripted_backend(tmp_path):
    model = arithmetic_json(tmp_path, " 0", "m.json")
    settings = Settings(model=model, backend="scripted", limit=3, samples=2, cache_dir=str(tmp_path / "c"))
    session = EvaluationSession(settings)
    try:
        result = session.result("arithmetic")
        assert {c.text for q in result.questions for c in q.candidates} == {" 0"}
        assert session.model_json()["id"] == model and session.model_json()["fingerprint"].startswith("scripted-")
        assert session.backend_json() == {"device": "scripted", "dtype": "none"}
    finally:
        session.close()


def test_the_roles_of_a_session_are_one_kind_of_record():
    settings = Settings(model="m", judge_model="j", baseline_model="b", backend="scripted")
    assert model_specs(settings) == {
        "model": ModelSpec("model", "m", "scripted", "--model"),
        "judge": ModelSpec("judge", "j", "scripted", "--judge-model"),
        "baseline": ModelSpec("baseline", "b", "scripted", "--baseline-model"),
    }
    assert model_specs(replace(settings, judge_backend="hf"))["judge"].backend == "hf"
    # under ray or vllm a judge other than the model runs on transformers unless --judge-backend says so
    assert model_specs(replace(settings, backend="vllm"))["judge"].backend == "hf"
    assert model_specs(replace(settings, backend="vllm", judge_backend="vllm"))["judge"].backend == "vllm"
    assert ModelSpec("judge", "j", "hf", "--judge-model").described_as("J") == "the judge model J (--judge-model)"


def test_the_judge_runs_on_its_own_backend_and_is_named_as_the_judge(tmp_path):
    model = arithmetic_json(tmp_path, " 0", "m.json")
    other = arithmetic_json(tmp_path, " 1", "j.json")
    settings = Settings(model=model, backend="scripted", judge_model=other, cache_dir=str(tmp_path / "c"))
    session = EvaluationSession(settings)
    assert session.judge is not session.backend
    assert session.judge.described_as == f"the judge model {other} (--judge-model)"
    same = EvaluationSession(replace(settings, judge_model=model))
    assert same.judge is same.backend  # one backend serves both roles


def test_a_missing_judge_script_names_the_judge_option(tmp_path):
    model = arithmetic_json(tmp_path, " 0", "m.json")
    settings = Settings(model=model, backend="scripted", judge_model=str(tmp_path / "no.json"))
    with pytest.raises(SelfDiscError, match=r"^--judge-model .*no.json does not exist"):
        EvaluationSession(settings).judge  # noqa: B018


def test_the_protocol_names_each_backends_sampler_family():
    from selfdisc_checks.pipeline import sampling_record

    families = {name: sampling_record(Settings(backend=name))["sampler"] for name in ("hf", "ray", "vllm", "scripted")}
    assert families["hf"] == families["ray"] != families["vllm"] == "vllm"
    assert families["scripted"] == "scripted"


def test_a_baseline_session_evaluates_the_baseline_model_named_as_the_baseline(tmp_path):
    model = arithmetic_json(tmp_path, " 0", "m.json")
    base = arithmetic_json(tmp_path, " 1", "b.json")
    settings = Settings(model=model, baseline_model=base, backend="scripted", cache_dir=str(tmp_path / "c"))
    session = EvaluationSession(settings, role="baseline")
    assert session.model_json()["id"] == base
    assert session.backend.described_as == f"the baseline model {base} (--baseline-model)"
    missing = replace(settings, baseline_model=str(tmp_path / "gone.json"))
    with pytest.raises(SelfDiscError, match=r"^--baseline-model .*gone.json does not exist"):
        EvaluationSession(missing, role="baseline").backend  # noqa: B018


def test_under_a_remote_backend_the_model_as_its_own_judge_shares_its_backend(tmp_path, monkeypatch):
    made: list[str] = []

    def remote(model, options):
        made.append(model.model_id)
        return ScriptedBackend(fingerprint=f"remote-{model.fingerprint}")

    monkeypatch.setitem(registry.BUILTIN, "vllm", f"{__name__}:remote_factory")
    monkeypatch.setattr(sys.modules[__name__], "remote_factory", remote, raising=False)
    fixture = str(REPO / "fixtures" / "tiny-arith")
    settings = Settings(model=fixture, backend="vllm", judge_model=fixture, cache_dir=str(tmp_path / "c"))
    session = EvaluationSession(settings)
    assert session.judge is session.backend and made == [fixture]  # not a second copy on transformers
    assert model_specs(settings)["judge"].backend == "hf"  # another judge would run on transformers


@pytest.mark.skipif(__import__("importlib").util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_a_vllm_judge_without_vllm_names_the_judge_option():
    with pytest.raises(SelfDiscError, match="^--judge-backend vllm needs vLLM, .* or use --judge-backend hf.$"):
        resolve_settings({"judge_backend": "vllm"}, {}, Path("."))
