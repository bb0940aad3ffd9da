"""Binning under the one rule, the tag matrix, and the paper's counting quirks."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from routing.binning import EDGES, PAPER_FEATURES, LengthEdges, TagTable, bin_index, one_hot
from routing.config import PAPER, RECOMMENDED
from routing.features import FeatureBuilder, inclusive_bins
from routing.textual import LENGTH_TAGS, SIMILARITY_TAGS


@given(st.lists(st.floats(allow_nan=False, allow_infinity=True, width=64), min_size=1, max_size=50))
def test_every_value_lands_in_exactly_one_bin(values):
    rows = one_hot(bin_index(values))
    assert (rows.sum(axis=1) == 1).all()


def test_bin_edges_half_open_last_closed():
    idx = bin_index([-0.5, 0.0, 0.3299, 0.33, 0.6699, 0.67, 1.0, 1.7, np.nan])
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, -1]


def test_negative_cosine_lands_in_lowest_bin():
    assert bin_index([-0.04])[0] == 0


def test_inclusive_counting_quirk_at_edges():
    m = inclusive_bins(np.array([0.0, 0.33, 0.5, 0.67, 1.0, -0.1, 1.2]))
    assert m.sum(axis=1).tolist() == [1, 2, 1, 2, 1, 0, 0]


def test_length_edges_fitted_once_and_roundtrip():
    textual = {t: np.arange(300, dtype=float) for t in LENGTH_TAGS}
    edges = LengthEdges.fit(textual)
    lo, hi = edges.edges["prompt_len"]
    assert 98 <= lo <= 100 and 199 <= hi <= 201
    assert LengthEdges.from_json(edges.to_json()) == edges
    counts = one_hot(edges.bin("prompt_len", textual["prompt_len"])).sum(axis=0)
    assert abs(counts - 100).max() <= 2


def test_tag_matrix_has_90_features(table):
    T = table.matrix()
    assert T.shape == (600, 90)
    assert table.feature_names == list(PAPER_FEATURES)
    assert (T[:, :27].reshape(600, 9, 3).sum(axis=2) == 1).all()  # each textual tag in exactly one bin


def test_subset_keeps_dataset_edges(table):
    sub = table.subset(np.arange(50))
    assert sub.edges == table.edges
    assert (sub.matrix() == table.matrix()[:50]).all()


@given(st.integers(0, 2**32 - 1))
def test_counts_equal_T_transpose_m(seed):
    rng = np.random.default_rng(seed)
    n = 40
    textual = {t: rng.random(n) for t in SIMILARITY_TAGS}
    textual.update({t: rng.integers(0, 50, n).astype(float) for t in LENGTH_TAGS})
    table = TagTable.build(list(range(n)), textual)
    builder = FeatureBuilder(table, RECOMMENDED)
    masks = rng.random((5, n)) < rng.random()
    expected = np.stack([table.matrix().T.astype(int) @ m.astype(int) for m in masks])
    assert (builder.counts(masks) == expected).all()
    X = builder.transform(masks)
    assert np.allclose(X[:, :-1], expected / n) and np.allclose(X[:, -1], masks.sum(1) / n)
    assert np.allclose(masks.astype(float) @ builder.deltas(), X)


def test_paper_counting_small_fixture():
    """Inclusive edges count a value of exactly 0.33 twice; lengths re-ranked in H give ~|H|/3 per bin."""
    n = 12
    textual = {t: np.array([0.0, 0.33, 0.5, 0.67, 1.0, 0.2] * 2) for t in SIMILARITY_TAGS}
    textual.update({t: np.arange(n, dtype=float) * (i + 1) for i, t in enumerate(LENGTH_TAGS)})
    table = TagTable.build(list(range(n)), textual)
    mask = np.zeros(n, bool)
    mask[:6] = True
    paper, rec = FeatureBuilder(table, PAPER), FeatureBuilder(table, RECOMMENDED)
    vp, vr = paper.counts(mask)[0], rec.counts(mask)[0]
    assert vp[:3].tolist() == [3, 3, 2]  # 0.0, 0.33, 0.2 | 0.33, 0.5, 0.67 | 0.67, 1.0
    assert vr[:3].tolist() == [2, 2, 2]
    length = vp[paper._length_cols].reshape(4, 3)
    assert np.allclose(length, 2, atol=1)  # |H| / 3 per bin, whatever the lengths routed
    other = np.zeros(n, bool)
    other[6:] = True  # the longest instances: recommended bins move, paper's re-ranked ones do not
    assert np.allclose(paper.counts(other)[0][paper._length_cols], length.ravel())
    assert not np.allclose(rec.counts(other)[0][rec._length_cols], rec.counts(mask)[0][rec._length_cols])
    assert paper.n_features == 90 and rec.n_features == 91


def test_edges_constant():
    assert EDGES == (0.0, 0.33, 0.67, 1.0)
