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
    "instance_id", "annotator_ref", "preference", "neither_valid", "shown_swapped", "aspects", "time_ms", "is_gold",
)  # fmt: skip


def iter_label_groups(
    project: Project, instance_ids: Iterable[int] | None = None
) -> Iterator[tuple[int, list[LabelInput]]]:
    """(instance id, its labels as LabelInput) in instance order, streamed from the database."""
    query = HumanLabel.objects.filter(instance__project=project)
    if instance_ids is not None:
        query = query.filter(instance_id__in=list(instance_ids))
    rows = query.order_by("instance_id", "id").values_list(*_LABEL_FIELDS).iterator(chunk_size=CHUNK)
    for instance_id, group in groupby(rows, key=lambda row: row[0]):
        yield instance_id, [
            LabelInput(
                annotator=ref, preference=pref, neither_valid=neither, shown_swapped=swapped,
                aspects=aspects or {}, time_ms=time_ms, is_gold=gold,
            )
            for _, ref, pref, neither, swapped, aspects, time_ms, gold in group
        ]  # fmt: skip


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
    existing = {
        (iid, m): (pk, h)
        for pk, iid, m, h in Aggregate.objects.filter(instance__project=project)
        .values_list("pk", "instance_id", "method", "input_hash")
        .iterator(chunk_size=CHUNK)
        if m == method or m.startswith(f"{method}:")
    }
    report = RefreshReport()
    seen: set[tuple[int, str]] = set()
    to_create: list[Aggregate] = []
    to_update: list[Aggregate] = []
    done = 0
    with transaction.atomic():
        for instance_id, labels in iter_label_groups(project):
            used = usable_labels(labels, excluded)
            digest = _input_hash(method, used, options)
            family = [
                key for key in ((instance_id, method), *((instance_id, f"{method}:{a}") for a in aspects))
            ]
            if existing.get((instance_id, method), (None, None))[1] == digest:
                report.unchanged += 1
                seen.update(key for key in family if key in existing)
            else:
                for name, result in _compute(method, used, aspects, options).items():
                    key = (instance_id, name)
                    seen.add(key)
                    row = Aggregate(
                        instance_id=instance_id, method=name, inputs=result.inputs, input_hash=digest,
                        result=result.result, strength=result.strength, agreement=result.agreement,
                        dropped=result.dropped, reason=result.reason, details=result.details,
                    )  # fmt: skip
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
    if mode not in DatasetVersion.Mode.values:
        raise DatasetBuildError(f"mode: {mode!r} is not one of {DatasetVersion.Mode.values}")
    if DatasetVersion.objects.filter(project=project, name=name).exists():
        raise DatasetBuildError(f"name: project {project.name!r} already has a dataset version {name!r}")
    method = method or default_method(project)
    params: dict[str, Any] = {
        "mode": mode, "aggregation_method": method, "routing_run": None, "routing_strategy": None,
        "ppm_version": None, "budget": None, "lm_model": None, "lm_prompt_version": None, "job": job,
    }  # fmt: skip
    human_ids: set[int] | None
    if mode == DatasetVersion.Mode.ROUTING and routing_run is not None:
        info, human_ids = routing_run_info(project, routing_run)
        params.update(info)
    elif mode in (DatasetVersion.Mode.ROUTING, DatasetVersion.Mode.CHOICE):
        if human_instance_ids is None:
            raise DatasetBuildError(f"routing_run: mode {mode!r} needs a routing run or human_instance_ids")
        human_ids = set(int(i) for i in human_instance_ids)
        params["routing_strategy"] = (
            "explicit" if mode == DatasetVersion.Mode.ROUTING else "researcher choice"
        )
        params["budget"] = len(human_ids)
    elif mode == DatasetVersion.Mode.ALL_HUMAN:
        human_ids = None  # every instance
        params["routing_strategy"] = "all human"
    else:
        human_ids = set()
        params["routing_strategy"] = "all LM"
        params["budget"] = 0
    use_lm = mode != DatasetVersion.Mode.ALL_HUMAN or judge is not None
    if use_lm:
        judge, prompt_version = pick_judge(project, judge, prompt_version)
        params.update({"lm_model": judge, "lm_prompt_version": prompt_version})
    if human_ids:
        unknown = human_ids - set(
            Instance.objects.filter(project=project, pk__in=human_ids).values_list("pk", flat=True)
        )
        if unknown:
            raise DatasetBuildError(
                f"human_instance_ids: {len(unknown)} ids are not instances of {project.name!r}"
            )
    if human_ids is None or human_ids:
        refresh_aggregates(project, method)

    counts = {"instances": 0, "rows": 0, "human": 0, "lm": 0, "ties": 0, "human_routed": 0,
              "human_dropped": 0, "unlabelled": 0}  # fmt: skip
    with transaction.atomic():
        version = DatasetVersion.objects.create(
            project=project, name=name, mode=mode, params=params, created_by=user
        )
        ids = Instance.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
        total = ids.count()
        chunk: list[int] = []
        for instance_id in ids.iterator(chunk_size=CHUNK):
            chunk.append(instance_id)
            if len(chunk) >= CHUNK:
                _build_chunk(
                    version, chunk, human_ids, method, judge if use_lm else None, prompt_version, counts
                )
                chunk = []
                if progress:
                    progress(counts["instances"], total, "assembling rows")
        if chunk:
            _build_chunk(version, chunk, human_ids, method, judge if use_lm else None, prompt_version, counts)
        DatasetVersion.objects.filter(pk=version.pk).update(counts=_finish_counts(counts))
    version.refresh_from_db()
    return version


def _build_chunk(
    version: DatasetVersion,
    instance_ids: list[int],
    human_ids: set[int] | None,
    method: str,
    judge: str | None,
    prompt_version: str | None,
    counts: dict[str, int],
) -> None:
    aggregates = {
        a.instance_id: a for a in Aggregate.objects.filter(instance_id__in=instance_ids, method=method)
    }
    lm_labels = {}
    if judge is not None:
        lm_labels = {
            label.instance_id: label
            for label in LMLabel.objects.filter(
                instance_id__in=instance_ids, judge=judge, prompt_version=prompt_version
            )
        }
    rows = []
    params = version.params
    for instance_id in instance_ids:
        counts["instances"] += 1
        routed = human_ids is None or instance_id in human_ids
        agg = aggregates.get(instance_id) if routed else None
        lm = lm_labels.get(instance_id)
        provenance: dict[str, Any] = {
            "routed_to": "human" if routed else "lm",
            "aggregation_method": method,
            "routing_strategy": params.get("routing_strategy"),
            "routing_run": params.get("routing_run"),
            "ppm_version": params.get("ppm_version"),
            "budget": params.get("budget"),
            "lm_model": judge,
            "lm_prompt_version": prompt_version,
            "lm_preference": lm.preference if lm else None,
            "lm_consistent": lm.consistent if lm else None,
            "lm_confidence": lm.confidence if lm else None,
        }
        if routed:
            counts["human_routed"] += 1
            provenance.update(_human_provenance(agg))
        if agg is not None and not agg.dropped and agg.result is not None:
            preference, strength, source = agg.result, agg.strength, DatasetRow.Source.HUMAN
            counts["human"] += 1
        elif lm is not None:
            if routed:
                counts["human_dropped"] += 1
                provenance["human_fallback"] = agg.reason if agg is not None else "no human labels"
            preference, strength, source = lm.preference, float(abs(lm.preference)), DatasetRow.Source.LM
            provenance.update(
                {"annotators": [judge], "n_annotators": 1, "agreement": None, "display_orders": []}
            )
            counts["lm"] += 1
        else:
            counts["unlabelled"] += 1
            if routed and agg is not None:
                counts["human_dropped"] += 1
            continue
        provenance["source"] = source
        counts["ties"] += preference == 0
        if source == DatasetRow.Source.HUMAN:
            if agg.agreement is not None and len(agg.inputs) >= 2:
                counts["_agreement_sum"] = counts.get("_agreement_sum", 0.0) + agg.agreement
                counts["_agreement_n"] = counts.get("_agreement_n", 0) + 1
            elif agg.agreement is not None:  # one vote always agrees with itself: no agreement figure
                counts["_single_vote"] = counts.get("_single_vote", 0) + 1
            if lm is not None:
                counts["_lm_compared"] = counts.get("_lm_compared", 0) + 1
                counts["_lm_agree"] = counts.get("_lm_agree", 0) + (
                    choice_of(lm.preference) == choice_of(preference)
                )
        rows.append(
            DatasetRow(
                version=version,
                instance_id=instance_id,
                preference=preference,
                strength=strength,
                source=source,
                provenance=provenance,
            )  # fmt: skip
        )
    DatasetRow.objects.bulk_create(rows, batch_size=500)
    counts["rows"] += len(rows)


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
