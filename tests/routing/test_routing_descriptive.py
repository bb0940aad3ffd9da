"""Descriptive-tag schema: answer normalisation and the 63 (+11 domain) binary features."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.descriptive import (
    ALL_FEATURES,
    DESCRIPTIVE_FEATURES,
    DIMENSIONS,
    DOMAIN_FEATURES,
    EXPERT_DOMAINS,
    UNKNOWN,
    features_of,
    normalize_answer,
)


def test_schema_sizes():
    assert len(DIMENSIONS["subject_of_expertise"].labels) == 46
    assert len(DESCRIPTIVE_FEATURES) == 63
    assert len(DOMAIN_FEATURES) == 11 and len(EXPERT_DOMAINS) == 11
    assert len(set(ALL_FEATURES)) == 74


@pytest.mark.parametrize(
    ("dimension", "raw", "expected"),
    [
        ("subject_of_expertise", '["physics", "CHEMISTRY"]', ["Physics", "Chemistry"]),
        ("subject_of_expertise", "Physics, Chemistry", ["Physics", "Chemistry"]),
        ("subject_of_expertise", {"subject_of_expertise": ["Biology"]}, ["Biology"]),
        ("subject_of_expertise", 'Sure! ["History"]', ["History"]),
        (
            "subject_of_expertise",
            ["Journalism, media studies and communication"],
            ["Journalism", "Media studies and communication"],
        ),
        ("subject_of_expertise", ["A", "B", "C", "Law"], UNKNOWN),  # only the first 3 items count
        ("subject_of_expertise", [], []),
        ("expertise_level", "General Public", ["general public"]),
        ("expertise_level", '"expert domain knowledge"', ["expert domain knowledge"]),
        ("safety_concern", "MODERATE", ["moderate"]),
        ("safety_concern", "purple", UNKNOWN),
        ("safety_concern", None, UNKNOWN),
        ("safety_concern", 3, UNKNOWN),
        ("safety_concern", "{not json", UNKNOWN),
        ("safety_concern", "unknown", UNKNOWN),
        ("format_constraints", [], []),
        ("format_constraints", "None", []),
        ("format_constraints", ["under 100 words"], ["under 100 words"]),
        ("languages", '["english", "French"]', ["English", "French"]),
        ("expert_domain", "administration and law", ["Administration & Law"]),
    ],
)
def test_normalize_answer(dimension, raw, expected):
    assert normalize_answer(dimension, raw) == expected


def test_unknown_dimension_is_an_error():
    with pytest.raises(ValueError, match="unknown descriptive dimension"):
        normalize_answer("colour", "red")


def test_features_fire():
    feats = features_of(
        {
            "subject_of_expertise": "Journalism, media studies and communication",
            "expertise_level": "basic domain knowledge",
            "languages": ["English"],
            "safety_concern": "gibberish",
            "format_constraints": ["bullets"],
            "type_of_in_context_material": [],
            "expert_domain": ["Natural sciences"],
        }
    )
    on = {k for k, v in feats.items() if v}
    assert on == {
        "subject_of_expertise=Journalism",
        "subject_of_expertise=Media studies and communication",
        "expertise_level=basic domain knowledge",
        "languages=English",
        "format_constraints=present",
        "expert_domain=Natural sciences",
    }
    assert set(feats) == set(ALL_FEATURES)


def test_normalised_answers_are_a_fixed_point():
    answers = {"subject_of_expertise": ["Physics"], "open_endedness": ["high"], "languages": UNKNOWN}
    normalised = {k: normalize_answer(k, v) for k, v in answers.items()}
    assert features_of(normalised) == features_of(answers)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.sampled_from(sorted(DIMENSIONS)), json_like)
def test_garbage_never_crashes(dimension, raw):
    result = normalize_answer(dimension, raw)
    assert result == UNKNOWN or isinstance(result, list)
    assert set(features_of({dimension: raw})) == set(ALL_FEATURES)


@given(json_like)
def test_features_of_any_object(raw):
    assert set(features_of(raw)) == set(ALL_FEATURES)
