"""The agreement report of a project (docs/METHOD.md, Agreement): read-only, computed from stored labels.

Human labels are aggregated on the fly with the project's method (excluded annotators left out); each LM
judge is compared with the human majority on the non-tie items (a missing verdict is a disagreement) and also
counted as one more rater; per annotator and per tag value (instance metadata keys, and the routing app's tag
values when it is installed) the same statistics are broken down.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from annotation.core.aggregation import LabelInput, majority
from annotation.core.agreement import (
    AnnotatorRecord,
    agreement_by_group,
    annotator_stats,
    krippendorff_alpha,
    pairwise_kappa,
    percent_agreement,
    rater_vs_reference,
    unanimous_share,
)
from annotation.core.labels import choice_of
from annotation.datasets.services import (
    aggregate,
    default_method,
    excluded_annotators,
    iter_label_groups,
    usable_labels,
)
from annotation.gold import gold_answers
from annotation.models import HumanLabel, Instance, LMLabel, Project
from annotation.routes import routing_source

_SIGN = {"A": -1, "B": 1, "tie": 0}


def _clean(value: Any) -> Any:
    """nan -> None, NumPy scalars -> Python, recursively (the report is JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def agreement_report(
    project: Project, method: str | None = None, tag_keys: list[str] | None = None, max_tag_values: int = 50
) -> dict[str, Any]:
    """The project's agreement report: human raters, each LM judge, per annotator and per tag value."""
    method = method or default_method(project)
    excluded = excluded_annotators(project)
    table = _LabelTable(method)
    for instance_id, labels in iter_label_groups(project):
        table.add(instance_id, usable_labels(labels, excluded))
    direction, strength = table.matrices()
    report = _overview(project, table, excluded)
    report["human"] = _human_stats(direction, strength, list(table.annotators))
    if method != "majority":
        report["aggregation"] = dict(table.outcomes)
    report["lm_judges"] = _judge_stats(project, table.units, table.majority_sign, direction)
    report["per_annotator"] = _per_annotator(project, table.records)
    report["per_tag"], report["per_tag_skipped"] = _per_tag(
        project, table.units, direction, table.majority_sign, tag_keys, max_tag_values
    )
    return _clean(report)


class _LabelTable:
    """The project's usable human labels, one instance at a time, laid out for the agreement statistics.

    Raters x units matrices (direction -1/0/+1 and the full preference scale) are kept as coordinate lists
    until the end; per instance it also records the majority vote and, for another method, its outcome.
    """

    def __init__(self, method: str):
        self.method = method
        self.annotators: dict[str, int] = {}
        self.units: list[int] = []
        self.cells: list[
            tuple[int, int, float, float]
        ] = []  # (rater row, unit column, direction, preference)
        self.records: list[AnnotatorRecord] = []
        self.majority_sign: list[float | None] = []
        self.outcomes: Counter[str] = Counter()
        self.unanimous = 0
        self.with_votes = 0

    def add(self, instance_id: int, labels: list[LabelInput]) -> None:
        column = len(self.units)
        self.units.append(instance_id)
        for label in labels:
            if label.preference is not None and not label.neither_valid:
                self._add_label(instance_id, column, label)
        self._add_votes(labels)

    def _add_label(self, instance_id: int, column: int, label: LabelInput) -> None:
        rater = self.annotators.setdefault(label.annotator, len(self.annotators))
        direction = _SIGN[choice_of(label.preference)]
        self.cells.append((rater, column, direction, label.preference))
        self.records.append(
            AnnotatorRecord(instance_id, label.annotator, direction, label.shown_swapped, label.time_ms, None)
        )

    def _add_votes(self, labels: list[LabelInput]) -> None:
        vote = majority(labels)
        self.majority_sign.append(vote.result)
        if vote.result is not None:
            self.outcomes[choice_of(vote.result)] += 1
            if len(vote.inputs) >= 2:
                self.with_votes += 1
                self.unanimous += bool(vote.details.get("unanimous"))
        if self.method != "majority":
            outcome = aggregate(self.method, labels)
            self.outcomes["dropped" if outcome.dropped else f"{self.method}:{choice_of(outcome.result)}"] += 1

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(direction, preference) raters x units matrices, nan where a rater did not label a unit."""
        shape = (len(self.annotators), len(self.units))
        direction, strength = np.full(shape, np.nan), np.full(shape, np.nan)
        if self.cells:
            rows, cols, directions, preferences = zip(*self.cells, strict=True)
            direction[rows, cols] = directions
            strength[rows, cols] = preferences
        return direction, strength


def _overview(project: Project, table: _LabelTable, excluded: set[str]) -> dict[str, Any]:
    return {
        "project": project.name,
        "method": table.method,
        "instances": Instance.objects.filter(project=project).count(),
        "labelled_instances": len(table.units),
        "human_labels": len(table.cells),
        "annotators": len(table.annotators),
        "excluded_annotators": sorted(excluded),
        "majority": {k: table.outcomes.get(k, 0) for k in ("A", "B", "tie")},
        "unanimous": table.unanimous,
        "instances_with_2plus_votes": table.with_votes,
    }


def _human_stats(direction: np.ndarray, strength: np.ndarray, names: list[str]) -> dict[str, Any]:
    if direction.size == 0:
        return {}
    graded = bool(np.nanmax(np.abs(strength)) > 1) if np.isfinite(strength).any() else False
    unanimous, pairable = unanimous_share(direction)
    out = {
        "pairable_instances": pairable,
        "unanimous_direction": unanimous,
        "percent_agreement": percent_agreement(direction),
        "alpha_nominal": krippendorff_alpha(direction, "nominal"),
        "alpha_ordinal": krippendorff_alpha(direction, "ordinal"),
        "kappa_mean_pairwise": pairwise_kappa(direction, names, weights=None).mean,
    }
    if graded:
        # The full scale (strength included): quadratic-weighted kappa and interval alpha as in paper 003.
        # Over the whole -3..+3 scale, so the weights do not depend on which values happened to be used.
        out["kappa_quadratic_mean_pairwise"] = pairwise_kappa(
            strength, names, weights="quadratic", labels=range(-3, 4)
        ).mean
        out["alpha_interval"] = krippendorff_alpha(strength, "interval")
        out["alpha_ordinal_scale"] = krippendorff_alpha(strength, "ordinal")
    return out


def _lm_vectors(project: Project, units: list[int]) -> dict[str, list[float | None]]:
    position = {instance_id: i for i, instance_id in enumerate(units)}
    vectors: dict[str, list[float | None]] = {}
    query = LMLabel.objects.filter(instance__project=project).values_list(
        "instance_id", "judge", "prompt_version", "preference"
    )
    for instance_id, judge, prompt_version, preference in query.iterator(chunk_size=5000):
        if instance_id not in position:
            continue
        key = f"{judge}@{prompt_version}" if prompt_version else judge
        vectors.setdefault(key, [None] * len(units))[position[instance_id]] = _SIGN[choice_of(preference)]
    return vectors


def _judge_stats(
    project: Project, units: list[int], majority_sign: list[float | None], direction: np.ndarray
) -> dict[str, Any]:
    out = {}
    for judge, vector in sorted(_lm_vectors(project, units).items()):
        vs = rater_vs_reference(vector, majority_sign, skip_reference={0})
        everything = rater_vs_reference(vector, majority_sign)
        lm_row = np.array([[np.nan if v is None else v for v in vector]])
        with_lm = np.vstack([direction, lm_row]) if direction.size else lm_row
        out[judge] = {
            "labels": sum(v is not None for v in vector),
            "missing": sum(v is None for v in vector),
            "agreement_non_tie": vs.agreement,
            "non_tie_items": vs.units,
            "agreeing_non_tie": vs.agreeing,
            "missing_non_tie": vs.missing,
            "agreement_all": everything.agreement,
            "kappa_vs_majority": vs.kappa,
            "alpha_nominal_humans_plus_lm": krippendorff_alpha(with_lm, "nominal"),
            "percent_agreement_humans_plus_lm": percent_agreement(with_lm),
        }
    return out


def _per_annotator(project: Project, records: list[AnnotatorRecord]) -> dict[str, Any]:
    """Per-annotator statistics; a gold label is scored against the known answer of its gold item
    (``annotation.gold``, canonical order)."""
    gold_labels = set(
        HumanLabel.objects.filter(instance__project=project, is_gold=True).values_list(
            "instance_id", "annotator_ref"
        )
    )
    gold = gold_answers({instance_id for instance_id, _ in gold_labels}) if gold_labels else {}
    for record in records:
        if (record.unit, record.annotator) in gold_labels and gold.get(record.unit) is not None:
            record.gold = int(gold[record.unit])
    return annotator_stats(records)


def _tag_groups(
    project: Project, units: list[int], tag_keys: list[str] | None, max_values: int
) -> dict[str, dict[str, list[int]]]:
    position = {instance_id: i for i, instance_id in enumerate(units)}
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    keys = tag_keys if tag_keys is not None else ["category"]
    if keys:
        for pk, metadata in (
            Instance.objects.filter(project=project).values_list("pk", "metadata").iterator(5000)
        ):
            if pk not in position or not isinstance(metadata, dict):
                continue
            for key in keys:
                value = metadata.get(key)
                if value is not None and not isinstance(value, dict | list):
                    groups[key][str(value)].append(position[pk])
    source = routing_source()
    if source is not None:
        for instance_id, tag, value in source.tag_values(project):
            if instance_id in position and not isinstance(value, dict | list):
                groups[f"tag:{tag}"][str(value)].append(position[instance_id])
    return {key: dict(values) for key, values in groups.items()}


def _per_tag(
    project: Project,
    units: list[int],
    direction: np.ndarray,
    majority_sign: list[float | None],
    tag_keys: list[str] | None,
    max_values: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(breakdown per tag value, the tags left out because they have more than ``max_values`` values: a
    breakdown that long says nothing, and an empty one without a word would look like missing data)."""
    groups = _tag_groups(project, units, tag_keys, max_values)
    skipped = {
        key: {"values": len(values), "limit": max_values}
        for key, values in groups.items()
        if len(values) > max_values
    }
    groups = {key: values for key, values in groups.items() if key not in skipped}
    if not groups or direction.size == 0:
        return {}, skipped
    judges = _lm_vectors(project, units)
    out: dict[str, Any] = {}
    for key, values in groups.items():
        per_value = agreement_by_group(direction, values)
        for judge, vector in judges.items():
            per_judge = agreement_by_group(
                direction, values, reference=majority_sign, rater=vector, skip_reference={0}
            )
            for value, stats in per_judge.items():
                per_value[value][f"{judge}_agreement_non_tie"] = stats["rater_agreement"]
        for value in per_value:
            per_value[value]["instances"] = len(values[value])
        out[key] = per_value
    return out, skipped


def format_report(report: dict[str, Any]) -> str:
    """Human-readable text of :func:`agreement_report`."""

    def fmt(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"Agreement report for {report['project']} (aggregation: {report['method']})",
        f"instances {report['instances']}, labelled {report['labelled_instances']}, "
        f"human labels {report['human_labels']}, annotators {report['annotators']}",
        "majority label counts: " + ", ".join(f"{k} {v}" for k, v in report["majority"].items()),
        f"unanimous items: {report['unanimous']} of {report['instances_with_2plus_votes']} with 2+ votes",
    ]
    if "aggregation" in report:
        lines.append(
            "aggregation: " + ", ".join(f"{k} {v}" for k, v in sorted(report["aggregation"].items()))
        )
    lines.append("human agreement: " + ", ".join(f"{k} {fmt(v)}" for k, v in report["human"].items()))
    for judge, stats in report["lm_judges"].items():
        lines.append(
            f"LM {judge}: agreement with the majority on {stats['non_tie_items']} non-tie items "
            f"{fmt(stats['agreement_non_tie'])} ({stats['missing_non_tie']} missing verdicts count as "
            f"disagreement); alpha with the LM as a rater {fmt(stats['alpha_nominal_humans_plus_lm'])}"
        )
    lines.append("per annotator:")
    for name, stats in sorted(report["per_annotator"].items()):
        lines.append(
            f"  {name}: labels {stats['labels']}, agreement with others {fmt(stats['agreement_with_others'])}, "
            f"gold accuracy {fmt(stats['gold_accuracy'])}, median time ms {fmt(stats['median_time_ms'])}, "
            f"left rate {fmt(stats['left_rate'])}"
        )
    for key, values in report["per_tag"].items():
        lines.append(f"per {key}:")
        for value, stats in sorted(values.items()):
            extra = ", ".join(f"{k} {fmt(v)}" for k, v in stats.items() if k.endswith("_agreement_non_tie"))
            lines.append(
                f"  {value}: instances {stats['instances']}, percent agreement {fmt(stats['percent_agreement'])}, "
                f"alpha {fmt(stats['alpha'])}" + (f", {extra}" if extra else "")
            )
    for key, skipped in report.get("per_tag_skipped", {}).items():
        lines.append(
            f"per {key}: no breakdown: {skipped['values']} values, more than the {skipped['limit']} a breakdown "
            "shows (choose a coarser tag, or raise max_tag_values)"
        )
    return "\n".join(lines)
