"""The OpenAI-compatible backend against a stub server on 127.0.0.1: retries, timeouts, concurrency, errors,
and one recorded realistic response per prompt type replayed end to end through the judge."""

from __future__ import annotations

import threading
import time

import pytest

from models.lm.base import BackendError, DecodingSettings
from models.lm.factory import make_backend, make_judge
from models.lm.judge import PairItem
from models.lm.openai_http import OpenAIBackend
from models.lm.stub_server import StubOpenAIServer, always, chat_response
from models.lm.taggers import PromptTagger

MSG = [{"role": "user", "content": "hi"}]
FAST = {"backoff_base": 0.001, "backoff_max": 0.01}


def sequence(*steps):
    """A responder answering with the given (status, body) steps in turn, then 200 'A' forever."""
    lock = threading.Lock()
    queue = list(steps)

    def responder(_request):
        with lock:
            step = queue.pop(0) if queue else (200, chat_response("A"))
        return step[0], step[1], step[2] if len(step) > 2 else {}

    return responder


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retries_429_and_5xx_then_succeeds(status: int) -> None:
    with StubOpenAIServer(sequence((status, {"error": "busy"}), (status, {"error": "busy"}))) as server:
        backend = OpenAIBackend("m", server.base_url, max_retries=3, **FAST)
        [gen] = backend.generate([MSG], DecodingSettings())
    assert gen.ok and gen.text == "A"
    assert len(server.requests) == 3 and backend.stats["retries"] == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_not_retried(status: int) -> None:
    with StubOpenAIServer(sequence((status, {"error": "bad request"}))) as server:
        backend = OpenAIBackend("m", server.base_url, max_retries=3, **FAST)
        [gen] = backend.generate([MSG], DecodingSettings())
    assert not gen.ok and f"HTTP {status}" in gen.error and "not retried" in gen.error
    assert len(server.requests) == 1


def test_gives_up_after_max_retries_with_backoff() -> None:
    sleeps: list[float] = []
    with StubOpenAIServer(lambda _r: (503, {"error": "down"}, {})) as server:
        backend = OpenAIBackend(
            "m", server.base_url, max_retries=3, backoff_base=0.5, backoff_max=30, sleep=sleeps.append
        )
        [gen] = backend.generate([MSG], DecodingSettings())
    assert not gen.ok and "HTTP 503 after 4 attempts" in gen.error
    assert len(server.requests) == 4
    # Exponential: 0.5, 1, 2 (plus up to 10% jitter).
    assert 0.5 <= sleeps[0] <= 0.55 and 1.0 <= sleeps[1] <= 1.1 and 2.0 <= sleeps[2] <= 2.2


def test_retry_after_header_is_honoured_but_capped() -> None:
    sleeps: list[float] = []
    with StubOpenAIServer(
        sequence((429, {}, {"Retry-After": "5"}), (429, {}, {"Retry-After": "999"}))
    ) as server:
        backend = OpenAIBackend("m", server.base_url, backoff_base=0.01, backoff_max=8, sleep=sleeps.append)
        [gen] = backend.generate([MSG], DecodingSettings())
    assert gen.ok
    assert 5 <= sleeps[0] <= 5.5 and 8 <= sleeps[1] <= 8.8


def test_timeout_is_reported_not_retried() -> None:
    with StubOpenAIServer(always("A"), delay=1.0) as server:
        backend = OpenAIBackend("m", server.base_url, timeout=0.2, max_retries=3, **FAST)
        started = time.perf_counter()
        [gen] = backend.generate([MSG], DecodingSettings())
        elapsed = time.perf_counter() - started
    assert not gen.ok and "timeout" in gen.error
    assert elapsed < 0.9 and len(server.requests) == 1


def test_concurrency_is_bounded() -> None:
    with StubOpenAIServer(always("A"), delay=0.15) as server:
        backend = OpenAIBackend("m", server.base_url, max_concurrency=3)
        gens = backend.generate([MSG] * 12, DecodingSettings())
    assert all(g.ok for g in gens)
    assert server.peak_in_flight == 3


def test_connection_refused_and_malformed_bodies_are_item_errors() -> None:
    with StubOpenAIServer(always("A")) as server:
        url = server.base_url
    backend = OpenAIBackend("m", url, timeout=2, max_retries=2, **FAST)  # server is gone
    [gen] = backend.generate([MSG], DecodingSettings())
    assert not gen.ok and "connection error" in gen.error
    for body in [
        b"not json",
        {"choices": []},
        {"choices": [{"message": {}}]},
        [1, 2],
        {"choices": [{"message": {"content": 7}}]},
    ]:
        with StubOpenAIServer(lambda _r, b=body: (200, b, {})) as server:
            [gen] = OpenAIBackend("m", server.base_url).generate([MSG], DecodingSettings())
        assert not gen.ok and gen.error, body


def test_api_key_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HP_TEST_KEY", "sekrit")
    with StubOpenAIServer(always("A")) as server:
        backend = make_backend(
            {"backend": "openai", "model": "m", "base_url": server.base_url, "api_key_env": "HP_TEST_KEY"}
        )
        backend.generate([MSG], DecodingSettings())
    assert server.requests[0]["auth"] == "Bearer sekrit"
    assert "sekrit" not in str(backend.describe())
    body = server.requests[0]["body"]
    assert body["model"] == "m" and body["temperature"] == 0.0 and body["logprobs"] is True


def test_bad_configuration_fails_clearly() -> None:
    with pytest.raises(BackendError, match="base_url"):
        make_backend({"backend": "openai", "model": "m", "base_url": "localhost:8000"})
    with pytest.raises(BackendError, match="unknown keys"):
        make_backend({"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1", "api_key": "x"})
    with pytest.raises(BackendError, match="'backend' must be one of"):
        make_backend({"backend": "llamafile"})
    with pytest.raises(BackendError, match="vllm package is not installed"):
        make_backend({"backend": "vllm", "model": "m"}).generate([MSG], DecodingSettings())


PAIRWISE = [
    "multipref-overall",
    "multipref-helpfulness",
    "multipref-truthfulness",
    "multipref-harmlessness",
    "alpacaeval-pairwise",
]


@pytest.mark.parametrize("name", [*PAIRWISE, "helpsteer2-ratings"])
def test_recorded_response_replays_through_the_judge(name: str, recorded: dict) -> None:
    fixture = recorded[name]
    with StubOpenAIServer(lambda _r: (200, fixture["response"], {})) as server:
        judge = make_judge({"backend": "openai", "model": "m", "base_url": server.base_url, "prompt": name})
        item = PairItem("What is 2+2?", "4", "5")
        ab, ba, rec = judge.judge([item])[0]
    expected = fixture["expected_shown"]
    assert ab.verdict == expected and ba.verdict == -expected  # the same shown answer, undone per order
    assert ab.raw == fixture["response"]["choices"][0]["message"]["content"]
    assert ab.prompt_tokens == fixture["response"]["usage"]["prompt_tokens"]
    if name in PAIRWISE:
        assert 0.5 < ab.confidence <= 1.0 and abs(sum(ab.probabilities.values()) - 1) < 1e-9
    else:
        assert ab.details["ratings"]["response_a"]["coherence"] == 4
        assert ba.details["ratings"]["response_b"]["coherence"] == 4  # canonical, whatever was shown first
    # The same answer in both orders means the judge contradicted itself: a tie, marked inconsistent.
    assert rec.consistent is (expected == 0) and (rec.preference == 0)
    sent = server.requests[0]["body"]["messages"][1]["content"]
    assert "What is 2+2?" in sent


def test_recorded_tagger_response(recorded: dict) -> None:
    fixture = recorded["prompt-tags"]
    with StubOpenAIServer(lambda _r: (200, fixture["response"], {})) as server:
        backend = make_backend({"backend": "openai", "model": "m", "base_url": server.base_url})
        [result] = PromptTagger(backend, dimensions=[fixture["dimension"], "expertise_level"]).tag(
            ["Prove it."]
        )
    assert result.answers[fixture["dimension"]] == fixture["expected"]
    assert result.answers["expertise_level"] == "unknown" and result.unknown == ["expertise_level"]


def test_scoring_uses_first_token_logprobs() -> None:
    top = {"A": -2.0, " B": -0.5, "tie": -4.0, "The": -0.1}
    with StubOpenAIServer(always("The", top)) as server:
        judge = make_judge(
            {
                "backend": "openai",
                "model": "m",
                "base_url": server.base_url,
                "prompt": "alpacaeval-pairwise",
                "mode": "score",
            }
        )
        ab, ba, _ = judge.judge([PairItem("q", "x", "y")])[0]
    assert ab.verdict == 1 and ba.verdict == -1 and ab.parse_error is None
    assert server.requests[0]["body"]["max_tokens"] == 1
    assert ab.probabilities["B"] > 0.7
