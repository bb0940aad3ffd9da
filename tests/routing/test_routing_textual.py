"""Textual tags on hand-made edge cases, with the real MiniLM and spaCy models loaded once per module."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from routing.config import PAPER, RECOMMENDED
from routing.textual import (
    TAG_NAMES,
    TextPair,
    as_text,
    compute_textual_tags,
    entity_similarity,
    extractors,
    length_penalty,
    normalize_entity,
    tag_version,
    token_count,
)

CASES = {
    "identical": ("Where is Paris?", "Paris is the capital of France.", "Paris is the capital of France."),
    "disjoint": ("Q", "Barack Obama visited Athens in 2009.", "Photosynthesis converts light to sugar."),
    "empty_one": ("Q", "Some answer here.", ""),
    "empty_both": ("Q", "", "  "),
    "greek": ("Ερώτηση", "Η Αθήνα είναι η πρωτεύουσα.", "Η Αθήνα είναι η πρωτεύουσα."),
    "chinese": ("问题", "我喜欢吃苹果和香蕉", "我喜欢吃苹果"),
    "longer": (
        "Q",
        "The cat sat on the mat.",
        "The cat sat on the mat and then it slept for a very long time.",
    ),
    "bool": ("Q", True, "True"),
    "reordered": ("Q", "dogs chase cats", "cats chase dogs"),
}


@pytest.fixture(scope="module")
def tags() -> dict[str, dict[str, float]]:
    """Every tag for every case in both modes, computed once (loads MiniLM and spaCy)."""
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.fail(
            "sentence-transformers is not installed: it is a required dependency, run scripts/setup.sh"
        )
    pairs = [TextPair.of(*v) for v in CASES.values()]
    out = {}
    for mode in (RECOMMENDED, PAPER):
        values = compute_textual_tags(pairs, mode, device="cpu")
        out[mode.name] = {name: dict(zip(CASES, values[name], strict=True)) for name in TAG_NAMES}
    return out


pytestmark = pytest.mark.slow


def test_identical_responses_score_one(tags):
    rec = tags["recommended"]
    for name in ("bertscore", "bertscore_length", "cosine_sim", "rouge"):
        assert rec[name]["identical"] == pytest.approx(1.0, abs=1e-4), name
    assert rec["entity_sim"]["identical"] == 1.0
    assert rec["token_len_diff"]["identical"] == 0


def test_disjoint_responses_score_low(tags):
    rec = tags["recommended"]
    assert rec["rouge"]["disjoint"] == 0.0
    assert rec["entity_sim"]["disjoint"] == 0.0
    assert rec["cosine_sim"]["disjoint"] < 0.33
    assert rec["bertscore"]["disjoint"] < rec["bertscore"]["longer"]


def test_empty_responses(tags):
    for mode in ("recommended", "paper"):
        for name in ("bertscore", "bertscore_length", "cosine_sim", "rouge"):
            assert tags[mode][name]["empty_one"] == 0.0, (mode, name)
    rec = tags["recommended"]
    for name in ("bertscore", "bertscore_length", "cosine_sim", "entity_sim", "rouge"):
        assert rec[name]["empty_both"] == 1.0, name
    assert rec["len_shorter"]["empty_one"] == 0 and rec["len_longer"]["empty_both"] == 0


def test_non_latin_text(tags):
    rec, paper = tags["recommended"], tags["paper"]
    assert rec["rouge"]["greek"] == pytest.approx(1.0)
    assert paper["rouge"]["greek"] == 0.0  # rouge-score's ASCII tokenizer: the paper-mode quirk
    assert 0.0 < rec["rouge"]["chinese"] < 1.0
    assert rec["len_longer"]["chinese"] == 9 and rec["len_shorter"]["chinese"] == 6  # one token per character
    assert rec["cosine_sim"]["greek"] == pytest.approx(1.0, abs=1e-4)


def test_length_adjusted_bertscore(tags):
    rec = tags["recommended"]
    expected = rec["bertscore"]["longer"] * np.exp(1 - 15 / 6)
    assert rec["bertscore_length"]["longer"] == pytest.approx(expected, rel=1e-6)
    assert 0.0 <= min(rec["bertscore_length"].values()) and max(rec["bertscore_length"].values()) <= 1.0


def test_boolean_response_is_text(tags):
    assert tags["recommended"]["rouge"]["bool"] == 1.0
    assert as_text(True) == "True" and as_text(None) == "" and as_text([{"content": "a"}, "b"]) == "a\nb"


def test_paper_mode_uses_rouge1_and_authors_entities(tags):
    assert tags["paper"]["rouge"]["reordered"] == pytest.approx(1.0)  # ROUGE-1 ignores order
    assert tags["recommended"]["rouge"]["reordered"] == pytest.approx(1 / 3)  # ROUGE-L does not
    assert tags["paper"]["entity_sim"]["empty_both"] == 0.0  # authors' formula: 0 / 0 read as 0


def test_extractors_have_names_and_versions():
    ex = extractors(PAPER)
    assert [e.name for e in ex] == list(TAG_NAMES)
    assert all(e.version for e in ex)
    assert tag_version("rouge", PAPER) != tag_version("rouge", RECOMMENDED)
    with pytest.raises(ValueError, match="unknown textual tag"):
        tag_version("nope")


def test_entity_similarity_rules():
    a, b = frozenset({"paris", "france"}), frozenset({"paris"})
    assert entity_similarity(a, b) == pytest.approx(0.5)
    assert entity_similarity(frozenset(), frozenset()) == 1.0
    assert entity_similarity(a, frozenset()) == 0.0
    assert entity_similarity(frozenset(), b) == 0.0
    # The authors divide by 2|B| - |A∩B|: 1 / (2 - 1) = 1 here, where Jaccard says 1/2.
    assert entity_similarity(a, b, PAPER) == 1.0
    assert normalize_entity("Athens", PAPER) == "ans"  # the substring-"the" bug, reproduced in paper mode
    assert normalize_entity("the Athens") == "athens"


def test_lengths_and_penalty():
    assert token_count("Hello, world!") == 4
    assert token_count("") == 0
    assert length_penalty("a b", "") == 0.0
    assert length_penalty("a b", "c d") == 1.0


def test_unknown_tag_rejected():
    with pytest.raises(ValueError, match="unknown textual tags"):
        compute_textual_tags([TextPair("p", "a", "b")], tags=("bleu",))
