"""Many human labels -> one (docs/METHOD.md, Aggregation). Pure Python, no Django: the one rule of the
export, the reports, the judge report and the PPM loop (``annotation.core.aggregation`` re-exports it).

Every function takes *canonical* preferences: the display order has already been undone when the label was
stored (``models.preferences.unswap``), so nothing here looks at ``shown_swapped`` except to carry it
into provenance. Labels of excluded annotators are left out before anything is counted.

Two rules:

* ``majority`` (paper 001): a vote over sign(preference) -> A / B / tie. A tie *in the vote* (e.g. one A,
  one B) is a tie; the first label seen never wins (the MultiPref authors' code did that).
* ``helpsteer2`` (paper 003): preferences on -3..+3, "neither valid" excluded and kept aside, the three
  annotations closest to each other, their mean rounded to the nearest integer; dropped when those three
  spread by more than 2 or when the result is 0.

Every rule returns an :class:`AggregateResult` holding the method, the inputs, the result, the
strength/margin and the agreement of the inputs, so that an exported row can say how its label was made.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from models.preferences import choice_of

MAJORITY = "majority"
HELPSTEER2 = "helpsteer2"
METHODS = (MAJORITY, HELPSTEER2)


@dataclass(frozen=True)
class LabelInput:
    """One annotator's label of one instance, as aggregation sees it (canonical order)."""

    annotator: str
    preference: int | None
    neither_valid: bool = False
    shown_swapped: bool = False
    aspects: Mapping[str, int | None] = field(default_factory=dict)
    time_ms: int | None = None
    is_gold: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aspects"] = dict(self.aspects)
        return out


@dataclass
class AggregateResult:
    """The outcome of aggregating one instance's labels.

    ``result`` is a canonical signed preference (None when the instance was dropped); ``strength`` is the
    magnitude a pairwise export uses as its margin; ``agreement`` is the share of the used inputs whose
    direction (A / B / tie) equals the result's (for a dropped instance: the share agreeing with the
    most common direction).
    """

    method: str
    inputs: list[dict[str, Any]]
    result: int | None
    strength: float
    agreement: float | None
    dropped: bool = False
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def choice(self) -> str | None:
        return None if self.result is None else choice_of(self.result)

    @property
    def is_tie(self) -> bool:
        return self.result == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def usable_labels(labels: Iterable[LabelInput], excluded: Iterable[str] = ()) -> list[LabelInput]:
    """Drop labels of excluded annotators; keep one label per annotator (a duplicate is an error)."""
    excluded_set = set(excluded)
    kept: list[LabelInput] = []
    seen: set[str] = set()
    for label in labels:
        if not isinstance(label, LabelInput):
            raise TypeError(f"expected LabelInput, got {type(label).__name__}: {label!r}")
        if label.annotator in excluded_set:
            continue
        if label.annotator in seen:
            raise ValueError(f"annotator {label.annotator!r} labelled the same instance twice")
        seen.add(label.annotator)
        kept.append(label)
    return kept


def _direction_agreement(preferences: Sequence[int], target: int | None) -> float | None:
    if not preferences:
        return None
    if target is None:
        most_common = Counter(choice_of(p) for p in preferences).most_common(1)[0][1]
        return most_common / len(preferences)
    direction = choice_of(target)
    return sum(choice_of(p) == direction for p in preferences) / len(preferences)


def majority(labels: Iterable[LabelInput], excluded: Iterable[str] = ()) -> AggregateResult:
    """Majority vote over sign(preference); a tie in the vote is a tie.

    ``result`` is -1 / 0 / +1. ``strength`` is the mean magnitude of the votes on the winning side (so a
    MultiPref "clearly better" majority gives a larger margin than a "slightly better" one); 0 for a tie.
    Labels without a preference (skips, "neither valid") are kept aside and do not vote.
    """
    used = usable_labels(labels, excluded)
    voting = [label for label in used if label.preference is not None and not label.neither_valid]
    aside = [label for label in used if label not in voting]
    preferences = [int(label.preference) for label in voting]  # type: ignore[arg-type]
    inputs = [label.as_dict() for label in voting]
    details: dict[str, Any] = {"aside": [label.as_dict() for label in aside]}
    if not voting:
        return AggregateResult(
            MAJORITY, inputs, None, 0.0, None, dropped=True, reason="no votes", details=details
        )
    votes = Counter(choice_of(p) for p in preferences)
    details["votes"] = {key: votes.get(key, 0) for key in ("A", "B", "tie")}
    top = max(votes.values())
    leaders = sorted(key for key, count in votes.items() if count == top)
    details["unanimous"] = len(votes) == 1
    if len(leaders) > 1:
        # Nobody won: that is a tie, whatever order the labels came in.
        details["vote_tie"] = leaders
        result = 0
    else:
        result = {"A": -1, "B": 1, "tie": 0}[leaders[0]]
    winners = [abs(p) for p in preferences if result != 0 and choice_of(p) == choice_of(result)]
    strength = sum(winners) / len(winners) if winners else 0.0
    return AggregateResult(
        MAJORITY, inputs, result, strength, _direction_agreement(preferences, result), details=details
    )


def _round_half_away(value: float) -> int:
    """Nearest integer, halves away from zero (Python's round() would send 0.5 and -0.5 both to 0)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def closest_three(values: Sequence[int]) -> tuple[list[int], bool]:
    """The three values closest to each other, and whether that choice was ambiguous.

    Sorted, the candidates are the windows of three neighbours; the smallest spread wins, then the smallest
    variance, then the window whose mean is nearest the median of all values, then the one nearest zero
    (the weaker preference, the conservative choice). Fewer than three values: all of them.
    """
    ordered = sorted(values)
    if len(ordered) <= 3:
        return ordered, False
    windows = [ordered[i : i + 3] for i in range(len(ordered) - 2)]
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    def key(window: list[int]) -> tuple[float, float, float, float]:
        mean = sum(window) / 3
        variance = sum((v - mean) ** 2 for v in window)
        return (window[2] - window[0], variance, abs(mean - median), abs(mean))

    best = min(windows, key=key)
    ambiguous = sum(1 for w in windows if key(w)[:2] == key(best)[:2] and sum(w) != sum(best)) > 0
    return best, ambiguous


def helpsteer2(
    labels: Iterable[LabelInput],
    excluded: Iterable[str] = (),
    max_spread: int = 2,
    min_annotations: int = 1,
) -> AggregateResult:
    """The HelpSteer2-Preference rule (paper 003, section 2).

    [-3, -1, 2, 3] -> closest three [-1, 2, 3], spread 4 > 2: dropped. [-1, -1, 1] -> mean -1/3 rounds to 0:
    dropped. "Neither valid" labels are excluded and listed in ``details["neither_valid"]``. With fewer than
    three usable labels (the paper's <10% of tasks) all of them are used; fewer than ``min_annotations``
    drops the instance.
    """
    used = usable_labels(labels, excluded)
    neither = [label for label in used if label.neither_valid]
    rated = [label for label in used if not label.neither_valid and label.preference is not None]
    for label in rated:
        if not -3 <= int(label.preference) <= 3:  # type: ignore[arg-type]
            raise ValueError(
                f"HelpSteer2 preference of annotator {label.annotator!r} is {label.preference}, not in -3..+3"
            )
    preferences = [int(label.preference) for label in rated]  # type: ignore[arg-type]
    details: dict[str, Any] = {
        "neither_valid": [label.annotator for label in neither],
        "skipped": [
            label.annotator for label in used if label.preference is None and not label.neither_valid
        ],
    }
    inputs = [label.as_dict() for label in rated]

    def dropped(reason: str, agreement: float | None) -> AggregateResult:
        return AggregateResult(
            HELPSTEER2, inputs, None, 0.0, agreement, dropped=True, reason=reason, details=details
        )

    if len(preferences) < max(min_annotations, 1):
        return dropped(f"{len(preferences)} usable annotations, fewer than {max(min_annotations, 1)}", None)
    chosen, ambiguous = closest_three(preferences)
    spread = chosen[-1] - chosen[0]
    mean = sum(chosen) / len(chosen)
    details.update({"closest": chosen, "spread": spread, "mean": mean, "ambiguous_window": ambiguous})
    if spread > max_spread:
        return dropped(
            f"closest annotations {chosen} spread {spread} > {max_spread}", _direction_agreement(chosen, None)
        )
    result = _round_half_away(mean)
    if result == 0:
        details["rounded"] = 0
        return dropped(f"mean {mean:.3f} of {chosen} rounds to 0", _direction_agreement(chosen, 0))
    return AggregateResult(
        HELPSTEER2, inputs, result, float(abs(result)), _direction_agreement(chosen, result), details=details
    )


def aggregate(
    method: str, labels: Iterable[LabelInput], excluded: Iterable[str] = (), **options: Any
) -> AggregateResult:
    """Dispatch by method name ("majority" or "helpsteer2")."""
    if method == MAJORITY:
        return majority(labels, excluded)
    if method == HELPSTEER2:
        return helpsteer2(labels, excluded, **options)
    raise ValueError(f"unknown aggregation method {method!r}; expected one of {METHODS}")


def aggregate_aspects(
    labels: Iterable[LabelInput], aspects: Sequence[str] | None = None, excluded: Iterable[str] = ()
) -> dict[str, AggregateResult]:
    """MultiPref per-aspect aggregation: a majority vote per aspect over the labels' ``aspects`` dicts.

    ``aspects`` defaults to every aspect any label answered. A label that did not answer an aspect does not
    vote on it.
    """
    used = usable_labels(labels, excluded)
    names = (
        list(aspects) if aspects is not None else sorted({name for label in used for name in label.aspects})
    )
    out: dict[str, AggregateResult] = {}
    for name in names:
        per_aspect = [
            LabelInput(
                annotator=label.annotator,
                preference=label.aspects.get(name),
                shown_swapped=label.shown_swapped,
            )
            for label in used
        ]
        result = majority(per_aspect)
        result.method = f"{MAJORITY}:{name}"
        out[name] = result
    return out
