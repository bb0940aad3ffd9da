"""The loop's tag matrix for instances read from a file (no database): the routing core's tags.

Textual tags come from :func:`routing.textual.compute_textual_tags` and are binned by
:class:`routing.binning.TagTable` (length edges fitted once on the whole file, before tie-dropping).
Computing them takes about a minute for a thousand pairs, so the raw values are cached on disk, keyed by
the file's content hash and the tag versions of the mode: a changed file or a new tag version is
recomputed, never served stale.

Descriptive tags need LM-tagger answers, which a plain instance file does not have: those 63 columns are
all zero here. The tag set is data (docs/METHOD.md, Descriptive tags): an instance file's ``category`` may be added as extra
columns (``category:<name>``) so the PPM sees more than the textual bins. The Django path builds its
table from stored ``routing.TagValue`` rows instead (``routing.app.services.project_tag_table``).

With a primary judge named, the LM-uncertainty tags (``routing.uncertainty``) are attached, read from the
file's ``lm_labels`` only (one verdict per judge: judge agreement and strength; a plain file has no orders
or probabilities). No Django import.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.reward.data import LabelledPair
from routing.binning import TagTable
from routing.config import RECOMMENDED, Mode
from routing.descriptive import DESCRIPTIVE_FEATURES
from routing.textual import TAG_NAMES, TextPair, compute_textual_tags, tag_version
from routing.uncertainty import UncertaintyTable, readings_from_labels, uncertainty_table

Progress = Callable[[int, int], None] | None


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (the cache key of its tags)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _versions(mode: Mode) -> dict[str, str]:
    return {name: tag_version(name, mode) for name in TAG_NAMES}


def cached_textual_values(
    instances: Sequence[LabelledPair],
    cache_dir: str | Path,
    source_digest: str,
    mode: Mode = RECOMMENDED,
    device: str | None = None,
    progress: Progress = None,
) -> tuple[dict[str, np.ndarray], dict[str, str], bool]:
    """Raw values of the 9 textual tags, aligned with ``instances``; (values, versions, from_cache)."""
    versions = _versions(mode)
    key = hashlib.sha256(json.dumps([source_digest, versions], sort_keys=True).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"textual-{key}.npz"
    ids = np.array([i.id for i in instances])
    if path.is_file():
        stored = np.load(path, allow_pickle=False)
        if stored["ids"].tolist() == ids.tolist():
            return {t: stored[t] for t in TAG_NAMES}, versions, True
    pairs = [TextPair.of(i.prompt, i.response_a, i.response_b) for i in instances]
    values = compute_textual_tags(pairs, mode, TAG_NAMES, device=device, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npz")
    np.savez(tmp, ids=ids, **values)
    tmp.replace(path)  # a killed run never leaves a half-written cache entry
    return values, versions, False


def category_columns(instances: Sequence[LabelledPair], min_count: int = 15) -> tuple[np.ndarray, list[str]]:
    """One boolean column per category with at least ``min_count`` instances (extra tags: data, not code)."""
    counts = Counter(i.category for i in instances if i.category)
    names = sorted(c for c, n in counts.items() if n >= min_count)
    cats = np.array([i.category for i in instances], dtype=object)
    matrix = np.stack([cats == c for c in names], axis=1) if names else np.zeros((len(instances), 0), bool)
    return matrix.astype(bool), [f"category:{c}" for c in names]


def instance_tag_table(
    instances: Sequence[LabelledPair],
    cache_dir: str | Path,
    source_digest: str,
    mode: Mode = RECOMMENDED,
    categories: bool = True,
    min_category: int = 15,
    device: str | None = None,
    primary_judge: str | None = None,
    progress: Progress = None,
) -> TagTable:
    """TagTable of every instance of a file: 27 textual bins, 63 descriptive columns (all zero: no tagger
    records), optionally the category columns, and the uncertainty tags when ``primary_judge`` is named."""
    textual, versions, _ = cached_textual_values(instances, cache_dir, source_digest, mode, device, progress)
    n = len(instances)
    descriptive = np.zeros((n, len(DESCRIPTIVE_FEATURES)), bool)
    names = list(DESCRIPTIVE_FEATURES)
    if categories:
        extra, extra_names = category_columns(instances, min_category)
        descriptive = np.concatenate([descriptive, extra], axis=1)
        names += extra_names
    uncertainty = file_uncertainty(instances, primary_judge) if primary_judge else None
    return TagTable(
        [i.id for i in instances],
        textual,
        descriptive,
        tuple(names),
        tag_versions=versions,
        uncertainty=uncertainty,
    )


def file_uncertainty(instances: Sequence[LabelledPair], primary_judge: str) -> UncertaintyTable:
    """Uncertainty tags from the instances' LM labels (never their human labels)."""
    if not any(primary_judge in i.lm for i in instances):
        raise ValueError(f"primary judge {primary_judge!r}: no instance has a label from it")
    return uncertainty_table([readings_from_labels(i.lm) for i in instances], primary_judge)
