"""Strict parsing: nothing crashes, nothing unparseable becomes a label, well-formed answers always parse."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from models.lm.parsing import load_json_object, parse_choice, parse_helpsteer2
from models.lm.prompts import ALPACAEVAL, FIVE_POINT_LABELS, HELPSTEER2, HELPSTEER2_ATTRIBUTES, TEMPLATES

LABEL_SETS = [FIVE_POINT_LABELS, ALPACAEVAL.labels]
ACCEPTED = {  # every surface form the parser accepts for a label (the documented leniency)
    label.casefold(): label for labels in LABEL_SETS for label in labels
}


def _core(text: str) -> str:
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1].strip()
    if s.endswith(".") and not s.endswith(".."):
        s = s[:-1].strip()
    return s


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(st.text(max_size=60), st.from_regex(r"\s*(A|B|tie|[1-5])[ .!,:a-z]{0,12}", fullmatch=True))
)
def test_choice_parsing_never_guesses(text: str) -> None:
    for labels in LABEL_SETS:
        result = parse_choice(text, labels)
        if result.ok:
            # Only an answer that IS a label (modulo the listed leniency) becomes a verdict.
            assert _core(text).casefold() in {k.casefold() for k in labels}
            assert result.value == labels[result.extra["label"]]
        else:
            assert result.value is None and result.error


@given(label=st.sampled_from(sorted(FIVE_POINT_LABELS)), pad=st.sampled_from(["", " ", "\n", "  \n"]))
def test_well_formed_choices_parse(label: str, pad: str) -> None:
    assert parse_choice(pad + label + pad, FIVE_POINT_LABELS).value == FIVE_POINT_LABELS[label]


def test_choice_rejects_chatty_and_ambiguous_answers() -> None:
    for text in ["A is better", "Response A", "A or B", "AB", "", "   ", "2 because", "6", "0", None, "tie?"]:
        assert not parse_choice(text, ALPACAEVAL.labels | FIVE_POINT_LABELS).ok, text
    assert parse_choice("Tie", ALPACAEVAL.labels).value == 0
    assert parse_choice("`B`", ALPACAEVAL.labels).value == 1
    assert not parse_choice(b"A", ALPACAEVAL.labels).ok  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_helpsteer2_parsing_only_accepts_the_exact_shape(value: object) -> None:
    result = parse_helpsteer2(json.dumps(value), HELPSTEER2_ATTRIBUTES)
    if result.ok:
        assert set(result.value) == {"response_a", "response_b"}
        for block in result.value.values():
            assert set(block) == set(HELPSTEER2_ATTRIBUTES)
            assert all(type(v) is int and 0 <= v <= 4 for v in block.values())
    else:
        assert result.value is None and result.error


ratings = st.fixed_dictionaries({a: st.integers(0, 4) for a in HELPSTEER2_ATTRIBUTES})


@given(a=ratings, b=ratings, fence=st.booleans())
def test_helpsteer2_well_formed_parses(a: dict, b: dict, fence: bool) -> None:
    text = json.dumps({"response_a": a, "response_b": b})
    if fence:
        text = "```json\n" + text + "\n```"
    result = HELPSTEER2.parse(text)
    assert result.ok and result.value == {"response_a": a, "response_b": b}


@given(
    a=ratings,
    attribute=st.sampled_from(HELPSTEER2_ATTRIBUTES),
    bad=st.sampled_from([5, -1, 2.5, True, "3", None]),
)
def test_helpsteer2_out_of_scale_is_not_clipped(a: dict, attribute: str, bad: object) -> None:
    broken = dict(a, **{attribute: bad})
    assert not HELPSTEER2.parse(json.dumps({"response_a": broken, "response_b": a})).ok


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_no_parser_crashes_on_any_text(text: str) -> None:
    for template in TEMPLATES.values():
        template.parse(text)
    load_json_object(text)


def test_helpsteer2_weighted_preference() -> None:
    first = {"helpfulness": 3, "correctness": 3, "coherence": 4, "complexity": 2, "verbosity": 2}
    second = {"helpfulness": 1, "correctness": 2, "coherence": 3, "complexity": 1, "verbosity": 1}
    assert HELPSTEER2.score(first) == 0.65 * 3 + 0.8 * 3 + 0.45 * 4 + 0.55 * 2 - 0.4 * 2
    assert HELPSTEER2.preference(first, second) == -1
    assert HELPSTEER2.preference(second, first) == 1
    assert HELPSTEER2.preference(first, first) == 0
    # More verbosity alone lowers the score.
    assert HELPSTEER2.preference(first, dict(first, verbosity=4)) == -1
