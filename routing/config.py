"""Paper mode vs recommended mode: every quirk of the authors' method is one switch here, not a fork.

Functions across ``routing`` take a :class:`Mode`; ``PAPER`` reproduces what the authors did (numbers
comparable with theirs), ``RECOMMENDED`` (the default) fixes the paper's defects (docs/METHOD.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Mode:
    """One switch per quirk. Build variants with ``dataclasses.replace(RECOMMENDED, ...)``."""

    name: str = "recommended"
    # --- textual tags (docs/METHOD.md: Textual tags)
    rouge_type: Literal["rougeL", "rouge1"] = "rougeL"
    rouge_unicode_tokens: bool = True  # rouge-score's own tokenizer drops every non-ASCII character
    entity_sim: Literal["jaccard", "authors"] = "jaccard"  # authors: / (2|B| - |A∩B|), strips "the"
    clip_bertscore_length: bool = True
    # --- binning / counting (docs/METHOD.md: Textual tags, Candidates and features)
    inclusive_count_edges: bool = False  # authors: a value of exactly 0.33 counts in two bins
    rerank_lengths_in_human_subset: bool = False  # authors: length features become |H|/3 whatever routed
    # --- candidate feature vector (docs/METHOD.md: Candidates and features)
    features: Literal["proportions", "counts"] = "proportions"
    human_share_feature: bool = True
    # LM-uncertainty tags (routing.uncertainty) beside the paper's tags; beyond the paper, so off there
    uncertainty_tags: bool = True
    # --- candidate generation (docs/METHOD.md: Candidates and features)
    candidate_kinds: tuple[str, ...] = ("tag_group_fill", "tag_bernoulli", "uniform")
    include_extremes: bool = True  # all-LM and all-human candidates
    # --- ties (docs/METHOD.md: Instance and pool)
    tie_policy: Literal["either_source", "chosen_source"] = "either_source"
    paper_pool_size: int = 7000
    # --- PPM (docs/METHOD.md: PPM)
    standardize: bool = True
    ridge_cv: bool = True

    def to_dict(self) -> dict:
        """JSON-safe form, stored with every artifact that depends on the mode."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Mode:
        data = dict(data)
        if "candidate_kinds" in data:
            data["candidate_kinds"] = tuple(data["candidate_kinds"])
        return cls(**data)


RECOMMENDED = Mode()
PAPER = Mode(
    name="paper",
    rouge_type="rouge1",
    rouge_unicode_tokens=False,
    entity_sim="authors",
    clip_bertscore_length=False,
    inclusive_count_edges=True,
    rerank_lengths_in_human_subset=True,
    features="counts",
    human_share_feature=False,
    uncertainty_tags=False,
    candidate_kinds=("tag_group_fill",),
    include_extremes=False,
    tie_policy="chosen_source",
    standardize=False,
    ridge_cv=False,
)
MODES = {"recommended": RECOMMENDED, "paper": PAPER}


def get_mode(mode: str | Mode | None) -> Mode:
    """A Mode from its name (``"paper"``/``"recommended"``), a Mode, or None (recommended)."""
    if mode is None:
        return RECOMMENDED
    if isinstance(mode, Mode):
        return mode
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown routing mode {mode!r}: expected one of {sorted(MODES)}") from None


__all__ = ["Mode", "PAPER", "RECOMMENDED", "MODES", "get_mode", "replace"]
