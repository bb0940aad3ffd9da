"""Descriptive tags of a prompt (docs/METHOD.md, Descriptive tags): the schema, answer normalisation, features.

Here, beside the LM tagger, because the tagger needs the schema and routing reads the features
(``routing.descriptive`` re-exports this module). The LM tagger (``models.lm.taggers``) asks one question per dimension and stores what came back; this module turns
whatever came back into a clean list of labels (or "unknown") and then into binary features. The schema is
data: a project can add dimensions (``expert_domain`` here, the 11 Prolific domains of the annotator tiers)
and the PPM just sees more columns. Bad or unparseable answers are "unknown" (no feature fires), never an
exception.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

UNKNOWN = "unknown"

SUBJECTS = (
    "Anthropology",
    "History",
    "Linguistics and language",
    "Philosophy",
    "Religion",
    "Economics",
    "Geography",
    "Political science",
    "Psychology",
    "Sociology",
    "Biology",
    "Chemistry",
    "Earth sciences",
    "Physics",
    "Space sciences",
    "Computer sciences",
    "Logic",
    "System science",
    "Agriculture",
    "Architecture and design",
    "Business",
    "Divinity",
    "Education",
    "Chemical engineering",
    "Civil engineering",
    "Electrical engineering",
    "Materials science and engineering",
    "Mechanical engineering",
    "Environmental studies and forestry",
    "Family and consumer science",
    "Human physical performance and recreation",
    "Journalism",
    "Media studies and communication",
    "Law",
    "Library and museum studies",
    "Medicine and health",
    "Military sciences",
    "Social work",
    "Transportation",
    "Culinary arts",
    "Literature",
    "Performing arts",
    "Visual arts",
    "Mathematics",
    "Public administration",
    "Others",
)

EXPERT_DOMAINS = (
    "Administration & Law",
    "Arts & Humanities",
    "Education",
    "Engineering, manufacturing and construction",
    "Health and Welfare",
    "History",
    "Information and Communication Technologies",
    "Journalism & Information Business",
    "Mathematics and statistics",
    "Natural sciences",
    "Social Sciences",
)


@dataclass(frozen=True)
class Dimension:
    """One question the tagger answers about a prompt.

    kind: "one" (exactly one label), "list" (several labels from ``labels``, at most ``max_items``),
    "open_list" (free strings; only presence or the labels in ``feature_labels`` become features).
    """

    name: str
    kind: Literal["one", "list", "open_list"]
    labels: tuple[str, ...] = ()
    max_items: int | None = None
    feature_labels: tuple[str, ...] = ()  # for open lists: labels that become features
    presence_feature: bool = False  # for open lists: one "present" feature (non-empty answer)
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # raw label -> labels it stands for
    in_paper: bool = True  # part of the paper's 63 descriptive features

    def feature_names(self) -> list[str]:
        if self.kind == "open_list":
            names = [f"{self.name}={label}" for label in self.feature_labels]
            return names + ([f"{self.name}=present"] if self.presence_feature else [])
        return [f"{self.name}={label}" for label in self.labels]


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension(
            "subject_of_expertise",
            "list",
            SUBJECTS,
            max_items=3,
            aliases=(
                (
                    "Journalism, media studies and communication",
                    ("Journalism", "Media studies and communication"),
                ),
                ("Computer science", ("Computer sciences",)),
                ("Other", ("Others",)),
            ),
        ),
        Dimension(
            "expertise_level", "one", ("general public", "basic domain knowledge", "expert domain knowledge")
        ),
        Dimension("languages", "open_list", feature_labels=("English",)),
        Dimension("open_endedness", "one", ("no", "low", "moderate", "high")),
        Dimension("safety_concern", "one", ("safe", "low", "moderate", "high")),
        Dimension("complexity_of_intents", "one", ("simple", "moderate", "complex")),
        Dimension("type_of_in_context_material", "open_list", presence_feature=True),
        Dimension("format_constraints", "open_list", presence_feature=True),
        Dimension("expert_domain", "list", EXPERT_DOMAINS, in_paper=False),
    )
}

PAPER_DIMENSIONS = tuple(name for name, d in DIMENSIONS.items() if d.in_paper)
DESCRIPTIVE_FEATURES: tuple[str, ...] = tuple(
    f for name in PAPER_DIMENSIONS for f in DIMENSIONS[name].feature_names()
)
DOMAIN_FEATURES: tuple[str, ...] = tuple(DIMENSIONS["expert_domain"].feature_names())
ALL_FEATURES: tuple[str, ...] = DESCRIPTIVE_FEATURES + DOMAIN_FEATURES

_EMPTY_WORDS = {"", "none", "no", "n/a", "na", "null", "nil", "nothing", "[]", "-", "not applicable"}


def _key(text: str) -> str:
    """Comparison key: case-, accent-width-, punctuation- and '&'/'and'-insensitive."""
    t = unicodedata.normalize("NFKC", text).lower().replace("&", " and ")
    t = re.sub(r"[^\w\s]", " ", t)
    return " ".join(t.split())


def _lookup(dim: Dimension) -> dict[str, tuple[str, ...]]:
    table = {_key(label): (label,) for label in dim.labels}
    table.update({_key(raw): labels for raw, labels in dim.aliases})
    return table


_LOOKUPS = {name: _lookup(d) for name, d in DIMENSIONS.items()}


def _parse(raw: Any, dimension: str) -> Any:
    """Peel JSON text and wrapper dicts until a string or a list remains (or None when nothing usable)."""
    for _ in range(5):
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if isinstance(raw, str):
            text = raw.strip()
            parsed = _json_in(text)
            if parsed is None:
                return text
            raw = parsed
            continue
        if isinstance(raw, dict):
            if dimension in raw:
                raw = raw[dimension]
            elif len(raw) == 1:
                raw = next(iter(raw.values()))
            else:
                for key in ("answer", "value", "values", "labels", "label"):
                    if key in raw:
                        raw = raw[key]
                        break
                else:
                    return None
            continue
        return raw
    return None


def _json_in(text: str) -> Any:
    """The JSON value in ``text`` (whole text, or the first {...}/[...] inside chatter), else None."""
    if not text or text[0] not in '[{"' and "{" not in text and "[" not in text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        match = re.search(r"(\{.*\}|\[.*\])", text, flags=re.DOTALL)
        if not match:
            return None
        try:
            value = json.loads(match.group(1))
        except ValueError:
            return None
    return value if isinstance(value, dict | list | str) else None


def _items(value: Any) -> list[str] | None:
    """A flat list of non-empty strings, or None when the value has no usable shape."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                out.append(str(item))
            elif isinstance(item, list | tuple):
                inner = _items(item)
                if inner:
                    out.extend(inner)
        return out
    return None


def _match(dim: Dimension, item: str) -> tuple[str, ...]:
    """Labels that ``item`` names: a whole-label match, else the comma/semicolon/slash separated parts."""
    table = _LOOKUPS[dim.name]
    key = _key(item)
    if key in table:
        return table[key]
    found: list[str] = []
    for part in re.split(r"[,;/\n]| and also ", item):
        for label in table.get(_key(part), ()):
            if label not in found:
                found.append(label)
    return tuple(found)


def normalize_answer(dimension: str, raw: Any) -> list[str] | str:
    """Canonical labels for one answer, or "unknown" when it cannot be read.

    Accepts JSON text, plain strings (comma separated for lists), lists, and wrapper dicts
    (``{"subject_of_expertise": [...]}``). Matching is case-insensitive; an empty answer is ``[]``.
    """
    dim = DIMENSIONS.get(dimension)
    if dim is None:
        raise ValueError(f"unknown descriptive dimension {dimension!r}: expected one of {sorted(DIMENSIONS)}")
    if isinstance(raw, str) and raw.strip().lower() == UNKNOWN:
        return UNKNOWN
    items = _items(_parse(raw, dimension))
    if items is None:
        return UNKNOWN
    items = [s.strip() for s in items if s.strip() and s.strip().lower() not in _EMPTY_WORDS]
    if dim.kind == "open_list":
        out: list[str] = []
        for item in items:
            label = next((f for f in dim.feature_labels if _key(f) == _key(item)), item)
            if label not in out:
                out.append(label)
        return out
    if not items:
        return [] if dim.kind == "list" else UNKNOWN
    if dim.max_items is not None:
        items = items[: dim.max_items]
    labels: list[str] = []
    for item in items:
        for label in _match(dim, item):
            if label not in labels:
                labels.append(label)
    if not labels:
        return UNKNOWN
    return labels[:1] if dim.kind == "one" else labels


def features_of(answers: dict[str, Any] | None) -> dict[str, bool]:
    """Every descriptive feature (the paper's 63, then the 11 expert-domain ones) for one prompt.

    ``answers`` maps dimension -> normalised labels, "unknown", or a raw answer (normalised here); a missing
    or unknown dimension fires no feature.
    """
    feats = dict.fromkeys(ALL_FEATURES, False)
    if not isinstance(answers, dict):
        return feats
    for name, dim in DIMENSIONS.items():
        if name not in answers:
            continue
        try:
            labels = normalize_answer(name, answers[name])
        except Exception:  # an answer this odd is "unknown", never a crash
            labels = UNKNOWN
        if labels == UNKNOWN:
            continue
        if dim.kind == "open_list":
            keys = {_key(label) for label in labels}
            for label in dim.feature_labels:
                feats[f"{name}={label}"] = _key(label) in keys
            if dim.presence_feature:
                feats[f"{name}=present"] = bool(labels)
        else:
            for label in labels:
                feats[f"{name}={label}"] = True
    return feats
