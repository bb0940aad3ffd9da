"""Preference instances and evaluation triples read from JSONL files (no Django).

Two shapes:
- an instance file (PandaLM's ``pandalm.jsonl`` shape): prompt, response_a, response_b, human_labels
  [{annotator, label}], lm_labels {judge: A|B|tie|null};
- a triple file (``rm-eval.jsonl`` / RewardBench shape): prompt, chosen, rejected, subset, category.

Preferences follow docs/CONVENTIONS.md: signed ints in canonical order (< 0 response_a better, > 0
response_b better, 0 tie).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from models.aggregation import MAJORITY, LabelInput, aggregate
from models.preferences import preference_of


def as_text(value: object) -> str:
    """Real files hold JSON booleans (a model wrote "True") and nulls where text is expected."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class LabelledPair:
    """One comparison with its aggregated human label and its LM labels (both canonical preferences)."""

    id: str
    prompt: str
    response_a: str
    response_b: str
    human: int | None
    lm: dict[str, int | None] = field(default_factory=dict)
    category: str = ""


@dataclass(frozen=True)
class Triple:
    """A RewardBench-style evaluation item: the reward of chosen must strictly exceed that of rejected."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    subset: str
    category: str


def human_aggregate(votes: list[LabelInput], method: str = MAJORITY) -> int | None:
    """The project's aggregation rule (``models.aggregation``, the one the dataset export uses): None when
    the instance is dropped or has no votes, 0 for a tie."""
    if not votes:
        return None
    result = aggregate(method, votes)
    return None if result.dropped else result.result


def _read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return rows


def _label(value: object, where: str) -> int | None:
    if value is None:
        return None
    try:
        return preference_of(str(value))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def load_instances(path: str | Path, method: str = MAJORITY) -> list[LabelledPair]:
    """Read an instance file; the human label aggregates the human votes by ``method`` (majority: a
    plurality of A / B / tie, a tie in the vote is a tie)."""
    instances = []
    for number, row in _read_jsonl(path):
        where = f"{path}:{number}"
        for key in ("prompt", "response_a", "response_b"):
            if key not in row:
                raise ValueError(f"{where}: missing field {key!r}")
        votes = [
            LabelInput(str(v.get("annotator", k)), _label(v.get("label"), where))
            for k, v in enumerate(row.get("human_labels") or [])
        ]
        lm = {
            name: _label(value, f"{where} lm_labels.{name}")
            for name, value in (row.get("lm_labels") or {}).items()
        }
        try:
            human = human_aggregate(votes, method)
        except ValueError as exc:
            raise ValueError(f"{where}: human_labels: {exc}") from exc
        instances.append(
            LabelledPair(
                id=str(row.get("id", number)),
                prompt=as_text(row["prompt"]),
                response_a=as_text(row["response_a"]),
                response_b=as_text(row["response_b"]),
                human=human,
                lm=lm,
                category=as_text(row.get("category")),
            )
        )
    return instances


def load_triples(path: str | Path) -> list[Triple]:
    """Read a RewardBench-shaped file; a missing category falls back to the subset name."""
    triples = []
    for number, row in _read_jsonl(path):
        where = f"{path}:{number}"
        for key in ("prompt", "chosen", "rejected", "subset"):
            if key not in row:
                raise ValueError(f"{where}: missing field {key!r}")
        triples.append(
            Triple(
                id=str(row.get("id", number)),
                prompt=as_text(row["prompt"]),
                chosen=as_text(row["chosen"]),
                rejected=as_text(row["rejected"]),
                subset=str(row["subset"]),
                category=str(row.get("category") or row["subset"]),
            )
        )
    return triples
