"""Both-order judging and reconciliation, the vLLM adapter (with stand-ins for vLLM's objects), the factory."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from judging_fakes import FakeBackend, prefers_text

from models.lm.base import ChoiceScores, DecodingSettings, match_label_logprobs
from models.lm.factory import judge_name, make_backend, make_judge
from models.lm.judge import Judge, PairItem, reconcile
from models.lm.prompts import ALPACAEVAL, HELPSTEER2, get_template
from models.lm.vllm_backend import VLLMBackend, first_token_map, generation_from_output

verdicts = st.one_of(st.none(), st.integers(-2, 2))
confs = st.one_of(st.none(), st.floats(0, 1))


@given(ab=verdicts, ba=verdicts, ca=confs, cb=confs, policy=st.sampled_from(["tie", "low_confidence"]))
def test_reconcile_rules(ab, ba, ca, cb, policy) -> None:
    r = reconcile(ab, ba, ca, cb, policy)
    if ab is None or ba is None:
        assert r.preference is None and r.consistent is None  # never guessed from one order
        return
    same = (ab > 0) - (ab < 0) == (ba > 0) - (ba < 0)
    assert r.consistent is same
    if same:
        assert abs(r.preference) == min(abs(ab), abs(ba)) and r.preference * ab >= 0
    elif policy == "tie" or ca is None or cb is None or ca == cb:
        assert r.preference == 0
    else:
        assert r.preference in (ab, ba) and r.confidence == pytest.approx(abs(ca - cb))


def test_position_biased_judge_becomes_inconsistent_tie() -> None:
    judge = Judge(FakeBackend("1"), get_template("multipref-overall"))  # always "first clearly better"
    ab, ba, rec = judge.judge([PairItem("q", "x", "y")])[0]
    assert (ab.verdict, ba.verdict) == (-2, 2)
    assert rec.preference == 0 and rec.consistent is False


def test_unbiased_judge_is_consistent_in_canonical_order() -> None:
    judge = Judge(FakeBackend(prefers_text("GOOD")), get_template("multipref-overall"))
    results = judge.judge([PairItem("q", "GOOD", "bad"), PairItem("q", "bad", "GOOD")])
    assert [r.preference for _, _, r in results] == [-2, 2]
    assert all(r.consistent for _, _, r in results)


def test_unparseable_output_is_kept_raw_and_gives_no_label() -> None:
    judge = Judge(FakeBackend("Response A is better."), ALPACAEVAL)
    ab, ba, rec = judge.judge([PairItem("q", "x", "y")])[0]
    assert ab.verdict is None and ab.raw == "Response A is better." and "not one of" in ab.parse_error
    assert rec.preference is None


def test_score_mode_with_probabilities() -> None:
    judge = Judge(FakeBackend(prefers_text("GOOD", ("A", "B"))), ALPACAEVAL, mode="score")
    ab, ba, rec = judge.judge([PairItem("q", "bad", "GOOD")])[0]
    assert ab.verdict == 1 and ba.verdict == 1 and rec.preference == 1 and rec.consistent
    assert 0.8 < rec.confidence < 1 and set(ab.probabilities) == {"A", "B", "tie"}


def test_helpsteer2_generate_and_score() -> None:
    good = '{"response_a": {"helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 2, "verbosity": 2}, '
    good += (
        '"response_b": {"helpfulness": 1, "correctness": 1, "coherence": 2, "complexity": 1, "verbosity": 2}}'
    )
    ab, ba, rec = Judge(FakeBackend(good), HELPSTEER2).judge([PairItem("q", "x", "y")])[0]
    assert ab.verdict == -1 and ba.verdict == 1 and rec.consistent is False
    scored = Judge(FakeBackend("3"), HELPSTEER2, mode="score").judge([PairItem("q", "x", "y")])[0]
    assert scored[0].verdict == 0 and scored[2].preference == 0  # equal expected ratings: a tie
    assert set(scored[0].details["ratings"]["response_a"]) == set(HELPSTEER2.weights)


def test_non_string_responses_never_crash() -> None:
    judge = Judge(FakeBackend("3"), get_template("multipref-truthfulness"))
    ab, ba, rec = judge.judge([PairItem(None, True, "")])[0]
    assert rec.preference == 0 and "True" in judge.backend.prompts[0][1]["content"]


def test_match_label_logprobs_sums_variants() -> None:
    got = match_label_logprobs({"A": -1.0, " A": -1.0, "B": -2.0}, ["A", "B", "tie"])
    assert got["tie"] is None and got["A"] == pytest.approx(-1.0 + 0.6931, abs=1e-3)
    assert ChoiceScores({"A": None, "B": None}).probabilities() is None


# -- vLLM adapter -------------------------------------------------------------------------------------------


def _vllm_output(text: str, top: dict[str, float]) -> SimpleNamespace:
    logprobs = [{i: SimpleNamespace(logprob=lp, decoded_token=t) for i, (t, lp) in enumerate(top.items())}]
    completion = SimpleNamespace(text=text, token_ids=[1], logprobs=logprobs)
    return SimpleNamespace(outputs=[completion], prompt_token_ids=[0] * 42)


class _FakeLLM:
    def __init__(self, answer: str, top: dict[str, float]) -> None:
        self.answer, self.top, self.calls = answer, top, []

    def chat(self, prompts, sampling, use_tqdm=False):
        self.calls.append((len(prompts), sampling))
        return [_vllm_output(self.answer, self.top) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    module.LLM = lambda model, **kw: _FakeLLM("B", {"B": -0.1, "A": -2.5})
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_vllm_adapter_batches_and_converts(fake_vllm) -> None:
    backend = make_backend({"backend": "vllm", "model": "some/model", "engine_args": {"max_model_len": 4096}})
    assert isinstance(backend, VLLMBackend)
    judge = Judge(backend, ALPACAEVAL)
    ab, ba, rec = judge.judge([PairItem("q", "x", "y"), PairItem("q", "z", "w")])[0]
    assert backend._llm.calls[0][0] == 4  # one engine call for the whole batch, both orders
    assert backend._llm.calls[0][1].temperature == 0.0 and backend._llm.calls[0][1].logprobs == 20
    assert ab.verdict == 1 and ab.prompt_tokens == 42 and ab.confidence > 0.9
    scores = backend.score_choices([[{"role": "user", "content": "x"}]], ["A", "B"])
    assert scores[0].logprobs == {"A": -2.5, "B": -0.1}


def test_vllm_conversion_tolerates_odd_objects() -> None:
    assert first_token_map(None) is None and first_token_map([["x"]]) is None
    assert generation_from_output(SimpleNamespace(outputs=[]), 0.1).error
    assert generation_from_output(object(), 0.1).error


def test_factory_and_names() -> None:
    assert judge_name({"backend": "local"}) == "SmolLM2-135M-Instruct"
    assert judge_name({"backend": "openai", "model": "m", "name": "j1"}) == "j1"
    judge = make_judge({"backend": "local", "cache_dir": "/nonexistent", "prompt": "alpacaeval-pairwise@1"})
    assert judge.mode == "score" and judge.prompt_version == "alpacaeval-pairwise@1"
    assert judge.decoding()["backend"] == "local" and judge.decoding()["temperature"] == 0.0
    with pytest.raises(KeyError, match="version"):
        get_template("alpacaeval-pairwise@0")
    assert DecodingSettings().as_dict()["max_tokens"] == 16


def test_local_backend_refuses_to_download(tmp_path) -> None:
    from models.lm.base import BackendError

    backend = make_backend(
        {"backend": "local", "model": "HuggingFaceTB/SmolLM2-360M-Instruct", "cache_dir": str(tmp_path)}
    )
    with pytest.raises(BackendError, match="never downloaded"):
        backend.generate([[{"role": "user", "content": "x"}]], DecodingSettings())
