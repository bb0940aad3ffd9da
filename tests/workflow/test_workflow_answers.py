"""Answer validation against both schemes: errors name the field; display order is undone."""

from __future__ import annotations

import copy

import pytest

from annotation.core.schemes import SchemeError, default_scheme_config
from annotation.workflow.answers import validate_answer
from tests.workflow.conftest import HS_ANSWER, MP_ANSWER

MP = default_scheme_config("multipref")
HS = default_scheme_config("helpsteer2")


def test_multipref_answer_canonical_and_unswapped():
    plain = validate_answer(MP, MP_ANSWER, shown_swapped=False)
    assert plain.preference == -1
    assert plain.aspects == {"helpfulness": -2, "truthfulness": 0, "harmlessness": 1}
    swapped = validate_answer(MP, MP_ANSWER, shown_swapped=True)
    assert swapped.preference == 1
    assert swapped.aspects == {"helpfulness": 2, "truthfulness": 0, "harmlessness": -1}
    assert swapped.answers["overall"] == "A-slightly"  # stored as submitted (shown order)


def test_helpsteer2_answer_canonical_and_unswapped():
    plain = validate_answer(HS, HS_ANSWER, shown_swapped=False)
    assert plain.preference == -3 and not plain.neither_valid
    assert plain.ratings["response_a"]["helpfulness"] == 4
    swapped = validate_answer(HS, HS_ANSWER, shown_swapped=True)
    assert swapped.preference == 3
    assert swapped.ratings["response_b"]["helpfulness"] == 4  # shown first = response_b
    neither = dict(
        HS_ANSWER, preference="neither", justification="Neither @Response 1 nor @Response 2 answers."
    )
    result = validate_answer(HS, neither)
    assert result.preference is None and result.neither_valid


def _mp(**changes):
    answer = copy.deepcopy(MP_ANSWER)
    answer.update(changes)
    return answer


def _hs(**changes):
    answer = copy.deepcopy(HS_ANSWER)
    answer.update(changes)
    return answer


@pytest.mark.parametrize(
    ("scheme", "answer", "field"),
    [
        (MP, _mp(overall="A-much"), "overall"),
        (MP, {k: v for k, v in MP_ANSWER.items() if k != "overall"}, "overall"),
        (MP, _mp(aspects={"helpfulness": "tie", "truthfulness": "tie"}), "aspects.harmlessness"),
        (MP, _mp(aspects={**MP_ANSWER["aspects"], "truthfulness": 7}), "aspects.truthfulness"),
        (MP, _mp(aspects={**MP_ANSWER["aspects"], "style": "tie"}), "aspects.style"),
        (MP, _mp(reasons={"style": ["pretty"]}), "reasons.style"),
        (MP, _mp(reasons={"helpfulness": ["pretty"]}), "reasons.helpfulness"),
        (MP, _mp(extra=1), "answer"),
        (HS, _hs(preference=0), "preference"),
        (HS, _hs(preference=4), "preference"),
        (
            HS,
            _hs(ratings={"1": HS_ANSWER["ratings"]["1"], "2": {**HS_ANSWER["ratings"]["2"], "verbosity": 5}}),
            "ratings.2.verbosity",
        ),
        (
            HS,
            _hs(
                ratings={
                    "1": {**HS_ANSWER["ratings"]["1"], "correctness": -1},
                    "2": HS_ANSWER["ratings"]["2"],
                }
            ),
            "ratings.1.correctness",
        ),
        (HS, _hs(ratings={"1": HS_ANSWER["ratings"]["1"]}), "ratings.2"),
        (HS, _hs(justification=""), "justification"),
        (HS, _hs(justification="The first one is better."), "justification"),
        (HS, _hs(justification="@Response 1 has a typo and @Response 2 does not."), "justification"),
    ],
)
def test_invalid_answers_name_the_field(scheme, answer, field):
    with pytest.raises(SchemeError) as caught:
        validate_answer(scheme, answer)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")


def test_justification_required_can_be_configured():
    scheme = dict(MP, justification_required=True)
    with pytest.raises(SchemeError, match="justification"):
        validate_answer(scheme, _mp(justification="  "))
    relaxed = dict(HS, justification_required=False)
    assert validate_answer(relaxed, _hs(justification="")).preference == -3
