"""Tags at scale: the faster ROUGE-L and the bounded-memory chunking compute the very values they replaced.

``data/tag_values_before.json`` holds the 9 tags in both modes of the sample in ``tag_sample.py`` (short
PandaLM pairs and long joined ones), computed by the code before the change (rouge-score's LCS table, 1,024
pair chunks, token embeddings kept as views of the padded batch).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from routing.config import PAPER, RECOMMENDED
from routing.textual import MINILM_TAGS, TAG_NAMES, compute_textual_tags, lcs_length, rouge_l_f, rouge_tag
from tests.scale.tag_sample import sample_pairs

BEFORE = Path(__file__).parent / "data" / "tag_values_before.json"


def test_lcs_length_matches_rouge_score_table():
    from rouge_score.rouge_scorer import _lcs_table

    rng = random.Random(0)
    for _ in range(400):
        vocab = [f"w{k}" for k in range(rng.randint(1, 12))]
        a = [rng.choice(vocab) for _ in range(rng.randint(0, 90))]
        b = [rng.choice(vocab) for _ in range(rng.randint(0, 90))]
        expected = _lcs_table(a, b)[-1][-1] if a and b else 0
        assert lcs_length(a, b) == expected, (a, b)


def test_rouge_l_is_rouge_scores_own_number(pandalm_path):
    from rouge_score import rouge_scorer

    rows = [json.loads(line) for line in pandalm_path.read_text().splitlines()[:300]]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    tokenize = scorer._tokenizer.tokenize
    for r in rows:
        a, b = str(r["response_a"]), str(r["response_b"])
        assert rouge_l_f(tokenize(a), tokenize(b)) == scorer.score(a, b)["rougeL"].fmeasure


def test_rouge_tag_values_unchanged_without_models(pandalm_path):
    before = json.loads(BEFORE.read_text())
    pairs = sample_pairs(pandalm_path)
    for mode in (RECOMMENDED, PAPER):
        assert rouge_tag(pairs, mode).tolist() == before[mode.name]["rouge"], mode.name


@pytest.mark.slow
def test_all_tag_values_unchanged(pandalm_path):
    before = json.loads(BEFORE.read_text())
    pairs = sample_pairs(pandalm_path)
    for mode in (RECOMMENDED, PAPER):
        values = compute_textual_tags(pairs, mode, device="cpu", chunk_size=16)  # several chunks
        for name in TAG_NAMES:
            expected = np.array(before[mode.name][name])
            if name in MINILM_TAGS:  # float sums in another order: equal to the last bits
                np.testing.assert_allclose(values[name], expected, rtol=0, atol=1e-6, err_msg=name)
            else:
                assert values[name].tolist() == expected.tolist(), (mode.name, name)
