"""Aggregates kept current, and the hybrid dataset assembled as an immutable version.

The hybrid rule (docs/METHOD.md): an instance's final label is the aggregated human label if the
router sent it to people and it survived aggregation, else the LM judge's label. Routing runs come from the
routing app through ``annotation.routes`` (this app never imports it); a caller may instead pass the set of
human-routed instance ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.db import transaction

from annotation.core.aggregation import (
    HELPSTEER2,
    MAJORITY,
    METHODS,
    AggregateResult,
    LabelInput,
    aggregate,
    aggregate_aspects,
    usable_labels,
)
from annotation.core.labels import choice_of
from annotation.core.schemes import HELPSTEER2 as HELPSTEER2_SCHEME
from annotation.datasets.models import Aggregate, DatasetRow, DatasetVersion
from annotation.models import HumanLabel, Instance, LMLabel, Project
from annotation.routes import routing_source

Progress = Callable[[int, int | None, str], None]
CHUNK = 2000


class DatasetBuildError(ValueError):
    """The dataset version cannot be built as asked; the message names the parameter."""


# ---------------------------------------------------------------------------------------------- labels


def default_method(project: Project) -> str:
    """HelpSteer2 projects aggregate with the HelpSteer2 rule, MultiPref (and imported A/B) by majority."""
    return HELPSTEER2 if (project.scheme or {}).get("kind") == HELPSTEER2_SCHEME else MAJORITY


def scheme_aspects(project: Project) -> list[str]:
    scheme = project.scheme or {}
    return list(scheme.get("aspects", [])) if scheme.get("kind") != HELPSTEER2_SCHEME else []


def excluded_annotators(project: Project) -> set[str]:
    """annotator_refs of this project's labels whose user profile is marked excluded."""
    return set(
        HumanLabel.objects.filter(instance__project=project, annotator__profile__excluded=True)
        .values_list("annotator_ref", flat=True)
        .distinct()
    )


_LABEL_FIELDS = (
    "instance_id",
    "annotator_ref",
    "preference",
    "neither_valid",
    "shown_swapped",
    "aspects",
    "time_ms",
    "is_gold",
)


def iter_label_groups(
    project: Project, instance_ids: Iterable[int] | None = None
) -> Iterator[tuple[int, list[LabelInput]]]:
    """(instance id, its labels as LabelInput) in instance order, streamed from the database."""
    query = HumanLabel.objects.filter(instance__project=project)
    if instance_ids is not None:
        query = query.filter(instance_id__in=list(instance_ids))
    rows = query.order_by("instance_id", "id").values_list(*_LABEL_FIELDS).iterator(chunk_size=CHUNK)
    for instance_id, group in groupby(rows, key=lambda row: row[0]):
        yield (
            instance_id,
            [
                LabelInput(
                    annotator=ref,
                    preference=pref,
                    neither_valid=neither,
                    shown_swapped=swapped,
                    aspects=aspects or {},
                    time_ms=time_ms,
                    is_gold=gold,
                )
                for _, ref, pref, neither, swapped, aspects, time_ms, gold in group
            ],
        )


def _input_hash(method: str, labels: list[LabelInput], options: dict[str, Any]) -> str:
    payload = json.dumps(
        {"method": method, "options": options, "labels": [label.as_dict() for label in labels]},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ aggregates


@dataclass
class RefreshReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _compute(
    method: str, labels: list[LabelInput], aspects: list[str], options: dict
) -> dict[str, AggregateResult]:
    out = {method: aggregate(method, labels, **options)}
    if aspects and any(label.aspects for label in labels):
        for result in aggregate_aspects(labels, aspects).values():
            out[result.method] = result
    return out


def refresh_aggregates(
    project: Project,
    method: str | None = None,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> RefreshReport:
    """Bring the project's aggregates up to date; only instances whose inputs changed are recomputed.

    The inputs are the labels left after excluding excluded annotators, so excluding someone (or a new label)
    changes the hash and the aggregate is recomputed; instances that lost all labels lose their aggregates.
    """
    method = method or default_method(project)
    if method not in METHODS:
        raise DatasetBuildError(f"method: unknown aggregation method {method!r}; expected one of {METHODS}")
    options = options or {}
    aspects = scheme_aspects(project) if method == MAJORITY else []
    excluded = excluded_annotators(project)
    existing = _existing_aggregates(project, method)
    report = RefreshReport()
    seen: set[tuple[int, str]] = set()
    to_create: list[Aggregate] = []
    to_update: list[Aggregate] = []
    done = 0
    with transaction.atomic():
        for instance_id, labels in iter_label_groups(project):
            used = usable_labels(labels, excluded)
            digest = _input_hash(method, used, options)
            family = [(instance_id, method), *((instance_id, f"{method}:{aspect}") for aspect in aspects)]
            if existing.get((instance_id, method), (None, None))[1] == digest:
                report.unchanged += 1
                seen.update(key for key in family if key in existing)
            else:
                for name, result in _compute(method, used, aspects, options).items():
                    key = (instance_id, name)
                    seen.add(key)
                    row = Aggregate(
                        instance_id=instance_id,
                        method=name,
                        inputs=result.inputs,
                        input_hash=digest,
                        result=result.result,
                        strength=result.strength,
                        agreement=result.agreement,
                        dropped=result.dropped,
                        reason=result.reason,
                        details=result.details,
                    )
                    if key in existing:
                        row.pk = existing[key][0]
                        to_update.append(row)
                    else:
                        to_create.append(row)
            done += 1
            if len(to_create) >= CHUNK or len(to_update) >= CHUNK:
                report.created += _flush(to_create, to_update)
                report.updated += len(to_update)
                to_create.clear()
                to_update.clear()
            if progress and done % CHUNK == 0:
                progress(done, None, f"{done} instances aggregated")
        report.created += _flush(to_create, to_update)
        report.updated += len(to_update)
        stale = [existing[key][0] for key in existing.keys() - seen]
        for start in range(0, len(stale), CHUNK):
            report.deleted += Aggregate.objects.filter(pk__in=stale[start : start + CHUNK]).delete()[0]
    return report


def _existing_aggregates(project: Project, method: str) -> dict[tuple[int, str], tuple[int, str]]:
    """(instance id, method or method:aspect) -> (aggregate pk, input hash) of the method's stored aggregates."""
    rows = (
        Aggregate.objects.filter(instance__project=project)
        .values_list("pk", "instance_id", "method", "input_hash")
        .iterator(chunk_size=CHUNK)
    )
    return {
        (instance_id, name): (pk, digest)
        for pk, instance_id, name, digest in rows
        if name == method or name.startswith(f"{method}:")
    }


def _flush(to_create: list[Aggregate], to_update: list[Aggregate]) -> int:
    Aggregate.objects.bulk_create(to_create, batch_size=500)
    Aggregate.objects.bulk_update(
        to_update,
        ["inputs", "input_hash", "result", "strength", "agreement", "dropped", "reason", "details"],
        batch_size=500,
    )
    return len(to_create)


# ------------------------------------------------------------------------------------------- routing


def routing_run_info(project: Project, run_id: int) -> tuple[dict[str, Any], set[int]]:
    """A routing run's description (strategy, budget, PPM version) and its human-routed instance ids."""
    source = routing_source()
    if source is None:
        raise DatasetBuildError(
            "routing_run: no routing app is installed to read routing runs from; pass human_instance_ids instead"
        )
    facts = source.run_facts(run_id)
    if facts is None:
        raise DatasetBuildError(f"routing_run: no routing run with id {run_id}")
    if facts.project_id != project.pk:
        raise DatasetBuildError(f"routing_run: run {run_id} belongs to another project")
    info = {
        "routing_run": facts.run_id,
        "routing_strategy": facts.strategy,
        "budget": facts.budget,
        "ppm_version": facts.ppm_version,
    }
    human = set(source.human_decisions(run_id).values_list("instance_id", flat=True).iterator())
    return info, human


# -------------------------------------------------------------------------------------------- judges


def pick_judge(project: Project, judge: str | None, prompt_version: str | None) -> tuple[str, str | None]:
    """The LM judge (and prompt version) to use; ambiguity is an error naming the choices."""
    pairs = list(
        LMLabel.objects.filter(instance__project=project)
        .values_list("judge", "prompt_version")
        .distinct()
        .order_by("judge", "prompt_version")
    )
    if judge is None:
        judges = sorted({j for j, _ in pairs})
        if len(judges) != 1:
            raise DatasetBuildError(f"judge: name the LM judge to use; this project has {judges or 'none'}")
        judge = judges[0]
    versions = sorted({v for j, v in pairs if j == judge})
    if not versions:
        raise DatasetBuildError(f"judge: no labels from LM judge {judge!r} in project {project.name!r}")
    if prompt_version is None:
        if len(versions) > 1:
            raise DatasetBuildError(f"prompt_version: judge {judge!r} has several prompt versions {versions}")
        prompt_version = versions[0]
    elif prompt_version not in versions:
        raise DatasetBuildError(
            f"prompt_version: judge {judge!r} has prompt versions {versions}, not {prompt_version!r}"
        )
    return judge, prompt_version


# --------------------------------------------------------------------------------------- the dataset


def build_dataset_version(
    project: Project,
    name: str,
    *,
    mode: str = DatasetVersion.Mode.ROUTING,
    routing_run: int | None = None,
    human_instance_ids: Iterable[int] | None = None,
    judge: str | None = None,
    prompt_version: str | None = None,
    method: str | None = None,
    user: Any = None,
    progress: Progress | None = None,
    job: int | None = None,
) -> DatasetVersion:
    """Assemble and freeze the hybrid dataset of ``project`` as version ``name``.

    ``mode``: ``routing`` (the human set is a routing run's "human" decisions, or ``human_instance_ids``),
    ``choice`` (``human_instance_ids`` chosen by the researcher), ``all_human`` (every instance; the LM label
    fills in only where a judge is named and the human aggregate is missing or dropped), ``all_lm``.
    """
    _check_new_version(project, name, mode)
    method = method or default_method(project)
    human_ids, routing = _human_set(project, mode, routing_run, human_instance_ids)
    if human_ids:
        _check_instances_of(project, human_ids)
    params: dict[str, Any] = {
        "mode": mode,
        "aggregation_method": method,
        "routing_run": None,
        "ppm_version": None,
        "lm_model": None,
        "lm_prompt_version": None,
        "job": job,
        **routing,
    }
    if mode != DatasetVersion.Mode.ALL_HUMAN or judge is not None:
        judge, prompt_version = pick_judge(project, judge, prompt_version)
        params.update({"lm_model": judge, "lm_prompt_version": prompt_version})
    else:
        judge = None
    if human_ids is None or human_ids:
        refresh_aggregates(project, method)
    plan = _RowPlan(human_ids, method, judge, prompt_version)
    return _assemble(project, name, mode, params, plan, user, progress)


def _check_new_version(project: Project, name: str, mode: str) -> None:
    if mode not in DatasetVersion.Mode.values:
        raise DatasetBuildError(f"mode: {mode!r} is not one of {DatasetVersion.Mode.values}")
    if DatasetVersion.objects.filter(project=project, name=name).exists():
        raise DatasetBuildError(f"name: project {project.name!r} already has a dataset version {name!r}")


def _human_set(
    project: Project, mode: str, routing_run: int | None, human_instance_ids: Iterable[int] | None
) -> tuple[set[int] | None, dict[str, Any]]:
    """The instances whose human label is used (None: every instance) and how the version describes them."""
    if mode == DatasetVersion.Mode.ROUTING and routing_run is not None:
        info, human_ids = routing_run_info(project, routing_run)
        return human_ids, info
    if mode in (DatasetVersion.Mode.ROUTING, DatasetVersion.Mode.CHOICE):
        if human_instance_ids is None:
            raise DatasetBuildError(f"routing_run: mode {mode!r} needs a routing run or human_instance_ids")
        human_ids = {int(i) for i in human_instance_ids}
        strategy = "explicit" if mode == DatasetVersion.Mode.ROUTING else "researcher choice"
        return human_ids, {"routing_strategy": strategy, "budget": len(human_ids)}
    if mode == DatasetVersion.Mode.ALL_HUMAN:
        return None, {"routing_strategy": "all human", "budget": None}
    return set(), {"routing_strategy": "all LM", "budget": 0}


def _check_instances_of(project: Project, instance_ids: set[int]) -> None:
    known = Instance.objects.filter(project=project, pk__in=instance_ids).values_list("pk", flat=True)
    unknown = instance_ids - set(known)
    if unknown:
        raise DatasetBuildError(
            f"human_instance_ids: {len(unknown)} ids are not instances of {project.name!r}"
        )


@dataclass(frozen=True)
class _RowPlan:
    """What decides each row: the human set (None: everyone), the aggregation and the LM judge (None: none)."""

    human_ids: set[int] | None
    method: str
    judge: str | None
    prompt_version: str | None

    def routed(self, instance_id: int) -> bool:
        return self.human_ids is None or instance_id in self.human_ids


def _assemble(
    project: Project,
    name: str,
    mode: str,
    params: dict[str, Any],
    plan: _RowPlan,
    user: Any,
    progress: Progress | None,
) -> DatasetVersion:
    """Create the version and its rows in one transaction, a chunk of instances at a time."""
    counts = {
        key: 0
        for key in ("instances", "rows", "human", "lm", "ties", "human_routed", "human_dropped", "unlabelled")
    }
    with transaction.atomic():
        version = DatasetVersion.objects.create(
            project=project, name=name, mode=mode, params=params, created_by=user
        )
        ids = Instance.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
        total = ids.count()
        for chunk in _chunks(ids.iterator(chunk_size=CHUNK), CHUNK):
            _build_chunk(version, chunk, plan, counts)
            if progress:
                progress(counts["instances"], total, "assembling rows")
        DatasetVersion.objects.filter(pk=version.pk).update(counts=_finish_counts(counts))
    version.refresh_from_db()
    return version


def _chunks(values: Iterator[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _build_chunk(
    version: DatasetVersion, instance_ids: list[int], plan: _RowPlan, counts: dict[str, Any]
) -> None:
    """Write the rows of one chunk of instances: the human aggregate where routed and usable, else the LM."""
    aggregates = {
        a.instance_id: a for a in Aggregate.objects.filter(instance_id__in=instance_ids, method=plan.method)
    }
    lm_labels = _lm_labels(instance_ids, plan)
    rows = []
    for instance_id in instance_ids:
        counts["instances"] += 1
        routed = plan.routed(instance_id)
        row = _row(
            version,
            instance_id,
            routed,
            aggregates.get(instance_id),
            lm_labels.get(instance_id),
            plan,
            counts,
        )
        if row is not None:
            rows.append(row)
    DatasetRow.objects.bulk_create(rows, batch_size=500)
    counts["rows"] += len(rows)


def _lm_labels(instance_ids: list[int], plan: _RowPlan) -> dict[int, LMLabel]:
    if plan.judge is None:
        return {}
    labels = LMLabel.objects.filter(
        instance_id__in=instance_ids, judge=plan.judge, prompt_version=plan.prompt_version
    )
    return {label.instance_id: label for label in labels}


def _row(
    version: DatasetVersion,
    instance_id: int,
    routed: bool,
    agg: Aggregate | None,
    lm: LMLabel | None,
    plan: _RowPlan,
    counts: dict[str, Any],
) -> DatasetRow | None:
    """One instance's row under the hybrid rule, with its provenance; None when it has no usable label."""
    agg = agg if routed else None
    provenance = _base_provenance(version.params, routed, plan, lm)
    if routed:
        counts["human_routed"] += 1
        provenance.update(_human_provenance(agg))
    if agg is not None and not agg.dropped and agg.result is not None:
        preference, strength, source = agg.result, agg.strength, DatasetRow.Source.HUMAN
        counts["human"] += 1
        _count_agreement(counts, agg, lm, preference)
    elif lm is not None:
        if routed:
            counts["human_dropped"] += 1
            provenance["human_fallback"] = agg.reason if agg is not None else "no human labels"
        preference, strength, source = lm.preference, float(abs(lm.preference)), DatasetRow.Source.LM
        provenance.update(
            {"annotators": [plan.judge], "n_annotators": 1, "agreement": None, "display_orders": []}
        )
        counts["lm"] += 1
    else:
        counts["unlabelled"] += 1
        if routed and agg is not None:
            counts["human_dropped"] += 1
        return None
    provenance["source"] = source
    counts["ties"] += preference == 0
    return DatasetRow(
        version=version,
        instance_id=instance_id,
        preference=preference,
        strength=strength,
        source=source,
        provenance=provenance,
    )


def _base_provenance(
    params: dict[str, Any], routed: bool, plan: _RowPlan, lm: LMLabel | None
) -> dict[str, Any]:
    return {
        "routed_to": "human" if routed else "lm",
        "aggregation_method": plan.method,
        "routing_strategy": params.get("routing_strategy"),
        "routing_run": params.get("routing_run"),
        "ppm_version": params.get("ppm_version"),
        "budget": params.get("budget"),
        "lm_model": plan.judge,
        "lm_prompt_version": plan.prompt_version,
        "lm_preference": lm.preference if lm else None,
        "lm_consistent": lm.consistent if lm else None,
        "lm_confidence": lm.confidence if lm else None,
    }


def _count_agreement(counts: dict[str, Any], agg: Aggregate, lm: LMLabel | None, preference: int) -> None:
    """Running sums behind the card's mean human agreement (rows with two or more votes: one vote always
    agrees with itself) and human-vs-LM agreement."""
    if agg.agreement is not None and len(agg.inputs) >= 2:
        counts["_agreement_sum"] = counts.get("_agreement_sum", 0.0) + agg.agreement
        counts["_agreement_n"] = counts.get("_agreement_n", 0) + 1
    elif agg.agreement is not None:
        counts["_single_vote"] = counts.get("_single_vote", 0) + 1
    if lm is not None:
        counts["_lm_compared"] = counts.get("_lm_compared", 0) + 1
        counts["_lm_agree"] = counts.get("_lm_agree", 0) + (choice_of(lm.preference) == choice_of(preference))


def _finish_counts(counts: dict[str, Any]) -> dict[str, Any]:
    """Turn the running sums into the version's summary figures (used by the dataset card)."""
    n = counts.pop("_agreement_n", 0)
    total = counts.pop("_agreement_sum", 0.0)
    compared = counts.pop("_lm_compared", 0)
    agree = counts.pop("_lm_agree", 0)
    counts["human_share"] = counts["human"] / counts["rows"] if counts["rows"] else None
    counts["pairwise_rows"] = counts["rows"] - counts["ties"]
    counts["mean_human_agreement"] = total / n if n else None  # over rows with two or more votes
    counts["mean_human_agreement_rows"] = n
    counts["human_single_vote_rows"] = counts.pop("_single_vote", 0)
    counts["human_lm_agreement"] = agree / compared if compared else None
    counts["human_lm_compared"] = compared
    return counts


def _human_provenance(agg: Aggregate | None) -> dict[str, Any]:
    if agg is None:
        return {
            "annotators": [],
            "n_annotators": 0,
            "agreement": None,
            "display_orders": [],
            "human_inputs": [],
        }
    return {
        "annotators": [i["annotator"] for i in agg.inputs],
        "n_annotators": len(agg.inputs),
        "agreement": agg.agreement,
        "display_orders": ["BA" if i.get("shown_swapped") else "AB" for i in agg.inputs],
        "human_inputs": [i.get("preference") for i in agg.inputs],
        "human_result": agg.result,
        "human_dropped": agg.dropped,
    }
