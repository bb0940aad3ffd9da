"""Glue between the pure routing core and the database: compute and store tags, build a project's tag
table, fit/register PPMs, route a project and record the decisions, tag-gain reports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet

from annotation.judging.models import LMJudgment, PromptTagRecord
from annotation.models import Instance, LMLabel, Project
from models.lm.judge import reconcile
from routing.binning import LengthEdges as CoreLengthEdges
from routing.binning import TagTable, descriptive_row
from routing.config import Mode, get_mode, replace
from routing.descriptive import DESCRIPTIVE_FEATURES
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.strategies import resolve_budget, route, tag_gain_table
from routing.textual import LENGTH_TAGS, TAG_NAMES, TextPair, compute_textual_tags, tag_version
from routing.uncertainty import (
    UNCERTAINTY_FEATURES,
    JudgeReading,
    MarginEdges,
    UncertaintyTable,
    margin_of,
    uncertainty_table,
)

from .models import LengthEdges, PPMArtifact, RoutingDecision, RoutingRun, TagValue

EXTRACTOR = "textual"
STREAM_ROWS = 20_000  # rows per round trip when a whole project's rows are read: memory does not grow with N
DECISION_BATCH = 5_000  # routing decisions per INSERT


class RoutingError(Exception):
    """A routing request that cannot be carried out; the message says what and where."""


def _pair(instance: Instance) -> TextPair:
    prompt: Any = instance.prompt or instance.messages or ""
    return TextPair.of(prompt, instance.response_a, instance.response_b)


def tag_versions(mode: Mode) -> dict[str, str]:
    return {name: tag_version(name, mode) for name in TAG_NAMES}


def missing_instances(project: Project, mode: Mode) -> list[int]:
    """Ids of the instances lacking at least one textual tag at the current versions (what a resumed job
    still has to do), in id order. Counted in the database: no instance text is read."""
    current = Q()
    for tag, version in tag_versions(mode).items():
        current |= Q(tag=tag, extractor_version=version)
    complete = (
        TagValue.objects.filter(current, instance__project=project)
        .values("instance_id")
        .annotate(n=Count("id"))
        .filter(n=len(TAG_NAMES))
        .values("instance_id")
    )
    return list(project.instances.exclude(id__in=complete).order_by("id").values_list("id", flat=True))


def _instances_to_tag(ids: Sequence[int]) -> list[Instance]:
    """The instances of one chunk with only the fields the tags read."""
    fields = ("id", "prompt", "messages", "response_a", "response_b")
    return list(Instance.objects.filter(id__in=list(ids)).only(*fields).order_by("id"))


def compute_project_tags(
    project: Project,
    mode: str | Mode = "recommended",
    chunk_size: int = 256,
    device: str | None = None,
    progress: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Compute the 9 textual tags of every instance that lacks them, one committed chunk at a time.

    Streams: only the ids of the instances to do are held; each chunk's texts are read, tagged, stored and
    dropped, so memory does not grow with the project. Resumable: a crash loses at most the chunk in
    flight; a re-run starts from what is stored. When every instance has its tags, the length edges are
    fitted once and stored (kept on later runs).
    """
    mode = get_mode(mode)
    versions = tag_versions(mode)
    total = project.instances.count()
    todo = missing_instances(project, mode)
    done = total - len(todo)
    if progress:
        progress(done, total, f"{len(todo)} instances to tag")
    for start in range(0, len(todo), chunk_size):
        chunk = _instances_to_tag(todo[start : start + chunk_size])
        values = compute_textual_tags([_pair(i) for i in chunk], mode, TAG_NAMES, device=device)
        rows = [
            TagValue(
                instance=inst,
                tag=name,
                value=float(values[name][j]),
                extractor=EXTRACTOR,
                extractor_version=versions[name],
            )
            for j, inst in enumerate(chunk)
            for name in TAG_NAMES
        ]
        with transaction.atomic():
            TagValue.objects.bulk_create(rows, ignore_conflicts=True)
        done += len(chunk)
        if progress:
            progress(done, total, f"tagged {done} of {total}")
    edges = ensure_length_edges(project, mode)
    return {"instances": total, "computed": len(todo), "versions": versions, "length_edges": edges.edges}


def _length_version(mode: Mode) -> str:
    return "|".join(tag_version(t, mode) for t in LENGTH_TAGS)


def ensure_length_edges(
    project: Project, mode: Mode, refit: bool = False, textual: dict[str, np.ndarray] | None = None
) -> CoreLengthEdges:
    """The project's stored length edges, fitted on all its instances the first time (or when ``refit``).
    ``textual``: the project's values of (at least) the length tags when the caller has read them already."""
    version = _length_version(mode)
    stored = LengthEdges.objects.filter(project=project, version=version).first()
    if stored is not None and not refit:
        return CoreLengthEdges.from_json(stored.edges)
    if textual is None or not set(LENGTH_TAGS) <= set(textual):
        textual, _ = _textual_arrays(project, mode, LENGTH_TAGS)
    if not len(next(iter(textual.values()))):
        raise RoutingError(f"project {project.name!r}: no tagged instances to fit length edges on")
    edges = CoreLengthEdges.fit(textual)
    LengthEdges.objects.update_or_create(
        project=project, version=version, defaults={"edges": {"edges": edges.edges, "n": edges.n}}
    )
    return edges


def _chunks(rows: QuerySet, size: int = STREAM_ROWS) -> Iterator[list]:
    """A values_list query read ``size`` rows at a time (a server-side cursor on PostgreSQL), so that reading
    a million-instance project never holds its rows as Python objects all at once."""
    stream = rows.iterator(chunk_size=size)
    while chunk := list(islice(stream, size)):
        yield chunk


def _rows_of(ids: np.ndarray, instance_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(row in ``ids``, known) of each instance: ``ids`` is sorted, so a binary search replaces a dict of a
    million entries; an instance created after ``ids`` was read is not known and is left out."""
    wanted = np.asarray(instance_ids, dtype=np.int64)
    rows = np.searchsorted(ids, wanted)
    known = rows < len(ids)
    known[known] = ids[rows[known]] == wanted[known]
    return rows, known


def _textual_arrays(
    project: Project, mode: Mode, tags: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Raw values of ``tags`` (current versions) for the project's instances (ids in id order), which must
    all have them. One grouped query gives one row per instance with a column per tag (a million rows, not
    nine million), read in chunks into float arrays (a missing value is NaN)."""
    columns = {
        f"tag{k}": Max(
            "tag_values__value",
            filter=Q(tag_values__tag=tag, tag_values__extractor_version=tag_version(tag, mode)),
        )
        for k, tag in enumerate(tags)
    }
    rows = project.instances.order_by("id").annotate(**columns).values_list("id", *columns)
    id_blocks, value_blocks = [np.zeros(0, dtype=np.int64)], [np.zeros((0, len(tags)))]
    for chunk in _chunks(rows):
        id_blocks.append(np.fromiter((row[0] for row in chunk), dtype=np.int64, count=len(chunk)))
        value_blocks.append(np.array([row[1:] for row in chunk], dtype=np.float64).reshape(len(chunk), -1))
    ids, values = np.concatenate(id_blocks), np.concatenate(value_blocks)
    del value_blocks
    lacking = np.isnan(values).any(axis=1)
    if lacking.any():
        missing = ids[lacking]
        raise RoutingError(
            f"project {project.name!r}: {len(missing)} instances lack textual tags (first ids "
            f"{missing[:5].tolist()}); run `manage.py compute_tags {project.name}`"
        )
    return {tag: values[:, k].copy() for k, tag in enumerate(tags)}, ids


def _prompt_tag_rows(records: QuerySet, tagger_model: str | None, prompt_version: str | None) -> QuerySet:
    """(instance id, answers) of these tagger records, oldest first (a later record replaces an earlier)."""
    if tagger_model:
        records = records.filter(model=tagger_model)
    if prompt_version:
        records = records.filter(prompt_version=prompt_version)
    return records.order_by("created_at", "id").values_list("instance_id", "answers")


def prompt_tag_answers(
    instance_ids: Sequence[int], tagger_model: str | None = None, prompt_version: str | None = None
) -> list[dict | None]:
    """Descriptive answers per instance from ``judging.PromptTagRecord`` (latest record; None when absent)."""
    records = PromptTagRecord.objects.filter(instance_id__in=list(instance_ids))
    latest: dict[int, dict] = {}
    for inst_id, answers in _prompt_tag_rows(records, tagger_model, prompt_version):
        latest[inst_id] = answers if isinstance(answers, dict) else {}
    return [latest.get(i) for i in instance_ids]


def _descriptive_matrix(
    project: Project, ids: np.ndarray, tagger_model: str | None, prompt_version: str | None
) -> np.ndarray:
    """N x D descriptive features of the project's instances (rows in ``ids`` order) from each one's latest
    tagger record, what :func:`prompt_tag_answers` and ``TagTable.build`` give, read by project in chunks:
    records are written oldest first, so the latest one's row is the one that stays; no answers are held."""
    matrix = np.zeros((len(ids), len(DESCRIPTIVE_FEATURES)), dtype=bool)
    records = PromptTagRecord.objects.filter(instance__project=project)
    for chunk in _chunks(_prompt_tag_rows(records, tagger_model, prompt_version)):
        at, known = _rows_of(ids, [inst_id for inst_id, _ in chunk])
        for row, ok, (_, answers) in zip(at, known, chunk, strict=True):
            if ok:
                matrix[row] = descriptive_row(answers if isinstance(answers, dict) else {})
    return matrix


def _label_rows(instance_ids: Sequence[int], project: Project | None, **filters: Any):
    """LM labels of these instances; by project when given (a 100,000-id IN clause is slow to build)."""
    rows = LMLabel.objects.filter(**filters)
    return (
        rows.filter(instance__project=project)
        if project is not None
        else rows.filter(instance_id__in=list(instance_ids))
    )


def _newest_first_labels(rows) -> dict[str, dict[int, int]]:
    """judge -> instance -> label of the judge's newest prompt version there (a version is as new as its
    first stored label; an older version's label only where the newest has none)."""
    first: dict[tuple[str, str], int] = {}
    labels: dict[tuple[str, str], dict[int, int]] = {}
    columns = rows.order_by("id").values_list("id", "judge", "prompt_version", "instance_id", "preference")
    for chunk in _chunks(columns):
        for pk, judge, version, iid, pref in chunk:
            first.setdefault((judge, version), pk)
            labels.setdefault((judge, version), {})[iid] = pref
    out: dict[str, dict[int, int]] = {}
    for key in sorted(first, key=first.get):  # oldest first: newer versions overwrite
        out.setdefault(key[0], {}).update(labels[key])
    return out


def newest_versions(instance_ids: Sequence[int], project: Project | None = None) -> dict[str, str]:
    """Each judge's newest prompt version among these instances' labels (the version whose first label is
    the latest; one grouped query)."""
    first = {
        (row["judge"], row["prompt_version"]): row["first"]
        for row in _label_rows(instance_ids, project)
        .order_by()
        .values("judge", "prompt_version")
        .annotate(first=Min("id"))
    }
    return {judge: version for (judge, version), _ in sorted(first.items(), key=lambda item: item[1])}


def newest_lm_labels(
    instance_ids: Sequence[int], judge: str, project: Project | None = None
) -> dict[int, int]:
    """The judge's label of each instance under its newest prompt version; an older version's label only
    where the newest has none."""
    return _newest_first_labels(_label_rows(instance_ids, project, judge=judge)).get(judge, {})


def default_lm_judge(project: Project) -> str | None:
    """The judge with the most LM labels in the project (None when it has none)."""
    counts = {
        row["judge"]: row["n"]
        for row in LMLabel.objects.filter(instance__project=project)
        .order_by()
        .values("judge")
        .annotate(n=Count("id"))
    }
    return min(counts, key=lambda j: (-counts[j], j)) if counts else None


def lm_readings(instance_ids: Sequence[int], project: Project | None = None) -> list[dict[str, JudgeReading]]:
    """What every LM judge said about each instance, from stored LM labels and per-order judgments only
    (never a human label): the newest prompt version's label, the verdicts of both orders and the
    log-probability margin (mean over the orders that returned probabilities). ``project``: the instances
    are all of this project's (read by project, not by a list of ids)."""
    ids = list(instance_ids)
    judges, label, orders = _lm_evidence(ids, project)
    return [_readings_of(iid, judges, label, orders) for iid in ids]


def _lm_evidence(instance_ids: Sequence[int], project: Project | None) -> tuple[list[str], dict, dict]:
    """(judges, judge -> instance -> newest label, (judge, instance) -> order -> (verdict, margin)): what
    :func:`_readings_of` reads, from LM labels and judgments streamed in chunks (by project when given)."""
    label = _newest_first_labels(_label_rows(instance_ids, project))
    versions = newest_versions(instance_ids, project)
    judgments = (
        LMJudgment.objects.filter(instance__project=project)
        if project
        else LMJudgment.objects.filter(instance_id__in=list(instance_ids))
    )
    columns = judgments.order_by("id").values_list(
        "judge", "prompt_version", "instance_id", "order", "verdict", "logprobs", "confidence"
    )
    orders: dict[tuple[str, int], dict[str, tuple[int | None, float | None]]] = {}
    for chunk in _chunks(columns):
        for judge, version, iid, order, verdict, probs, conf in chunk:
            if versions.get(judge, version) == version:
                orders.setdefault((judge, iid), {})[order] = (verdict, margin_of(probs, conf))
    return sorted(set(label) | {judge for judge, _ in orders}), label, orders


def project_uncertainty(project: Project, instance_ids: Sequence[int], primary: str) -> UncertaintyTable:
    """The uncertainty tags of the project's instances (all of them, in this order), what
    ``uncertainty_table(lm_readings(ids, project), primary)`` gives, built STREAM_ROWS instances at a time:
    the primary judge's margins are gathered first and their edges fitted on the whole project, so no list
    of a million readings is ever held."""
    ids = list(instance_ids)
    judges, label, orders = _lm_evidence(ids, project)
    margins = []
    for start in range(0, len(ids), STREAM_ROWS):
        readings = [_readings_of(iid, [primary], label, orders) for iid in ids[start : start + STREAM_ROWS]]
        margins.extend(r[primary].margin if primary in r else None for r in readings)
    edges = MarginEdges.fit(margins)
    del margins
    matrix = np.zeros((len(ids), len(UNCERTAINTY_FEATURES)), dtype=bool)
    seen: set[str] = set()
    for start in range(0, len(ids), STREAM_ROWS):
        readings = [_readings_of(iid, judges, label, orders) for iid in ids[start : start + STREAM_ROWS]]
        part = uncertainty_table(readings, primary, edges)  # no edges: a chunk has too few margins too
        matrix[start : start + len(readings)] = part.matrix
        seen.update(part.judges)
    return UncertaintyTable(matrix, primary, tuple(sorted(seen)), edges)


def _readings_of(iid: int, judges: list[str], label: dict, orders: dict) -> dict[str, JudgeReading]:
    readings = {}
    for judge in judges:
        seen = orders.get((judge, iid), {})
        ab, ba = seen.get("AB", (None, None)), seen.get("BA", (None, None))
        pref = label.get(judge, {}).get(iid)
        if pref is None and "AB" in seen and "BA" in seen:
            pref = reconcile(ab[0], ba[0]).preference
        if pref is None and not seen:
            continue
        margins = [m for _, m in (ab, ba) if m is not None]
        readings[judge] = JudgeReading(
            judge,
            pref,
            (ab[0], ba[0]) if "AB" in seen and "BA" in seen else None,
            sum(margins) / len(margins) if margins else None,
        )
    return readings


def project_tag_table(
    project: Project,
    mode: str | Mode = "recommended",
    tagger_model: str | None = None,
    prompt_version: str | None = None,
    lm_judge: str | None = None,
) -> TagTable:
    """The project's TagTable: stored textual values, stored length edges, LM-tagger answers, and (when the
    mode has them and the project has LM labels) the uncertainty tags of ``lm_judge`` (default: the judge
    with the most labels)."""
    mode = get_mode(mode)
    textual, ids = _textual_arrays(project, mode, TAG_NAMES)
    edges = ensure_length_edges(project, mode, textual=textual)
    descriptive = _descriptive_matrix(project, ids, tagger_model, prompt_version)
    table = TagTable(ids.tolist(), textual, descriptive, DESCRIPTIVE_FEATURES, edges, tag_versions(mode))
    if not mode.uncertainty_tags:
        return table
    lm_judge = lm_judge or default_lm_judge(project)
    if lm_judge is None:
        return table
    return table.with_uncertainty(project_uncertainty(project, table.instance_ids, lm_judge))


def register_ppm(
    ppm: PPM, name: str, project: Project | None = None, out_dir: str | Path | None = None, **metadata: Any
) -> PPMArtifact:
    """Save a fitted PPM under the artifact directory and record it (replacing an artifact of that name)."""
    out_dir = Path(out_dir) if out_dir else Path(settings.ARTIFACT_DIR) / "ppm"
    path = ppm.save(out_dir / f"{name}.joblib", **metadata)
    meta = ppm.metadata_
    artifact, _ = PPMArtifact.objects.update_or_create(
        name=name,
        defaults={
            "kind": ppm.kind,
            "mode": get_mode(ppm.mode).name,
            "path": str(path),
            "metadata": _json_safe(meta),
            "metrics": _json_safe(meta.get("metrics") or {}),
            "project": project,
        },
    )
    return artifact


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, allow_nan=True).replace("NaN", "null"))


def _builder_for(project: Project, artifact: PPMArtifact, **table_kw: Any) -> tuple[PPM, FeatureBuilder]:
    """The PPM and the project's features in the PPM's own terms: with the uncertainty tags of the judge
    the PPM was fitted with when its features include them, without them otherwise."""
    ppm = artifact.load()
    mode = get_mode(ppm.mode)
    names = list(getattr(ppm, "feature_names_", None) or [])
    if not set(names) & set(UNCERTAINTY_FEATURES):
        mode = replace(mode, uncertainty_tags=False)
    table_kw.setdefault("lm_judge", (getattr(ppm, "metadata_", None) or {}).get("lm_judge"))
    builder = FeatureBuilder(project_tag_table(project, mode, **table_kw), mode)
    if names and names != builder.feature_names:
        extra = sorted(set(names) - set(builder.feature_names))[:5]
        raise RoutingError(
            f"PPM {artifact.name!r} was fitted on other features than project {project.name!r} has "
            f"(e.g. {extra or 'a different order'}): refit it on this tag set"
        )
    if ppm.n_features_in_ != builder.n_features:
        raise RoutingError(
            f"PPM {artifact.name!r} expects {ppm.n_features_in_} features, project {project.name!r} gives "
            f"{builder.n_features}"
        )
    return ppm, builder


def route_project(
    project: Project,
    artifact: PPMArtifact,
    budget: int | float,
    strategy: str = "simulated",
    seed: int = 0,
    options: dict[str, Any] | None = None,
    tagger_model: str | None = None,
) -> RoutingRun:
    """Route the project's instances and store the run and one decision per instance."""
    ppm, builder = _builder_for(project, artifact, tagger_model=tagger_model)
    try:
        b = resolve_budget(budget, builder.n) if strategy != "unlimited" else None
    except ValueError as error:
        raise RoutingError(str(error)) from error
    result = route(strategy, ppm, builder, b, np.random.default_rng(seed), **(options or {}))
    fraction = float(budget) if isinstance(budget, float) and budget <= 1.0 else None
    params = {
        "seed": seed,
        "mode": builder.mode.name,
        "options": options or {},
        "tag_versions": builder.table.tag_versions,
        "ppm_path": artifact.path,
        "info": _json_safe(result.info),
        "tagger_model": tagger_model,
    }
    with transaction.atomic():
        run = RoutingRun.objects.create(
            project=project,
            budget=int(result.mask.sum()),
            budget_fraction=fraction,
            strategy=strategy,
            ppm=artifact,
            predicted_performance=float(result.predicted),
            params=params,
        )
        _store_decisions(run, builder.table.instance_ids, result.mask, result.gains)
    return run


def _store_decisions(run: RoutingRun, ids: Sequence[int], mask: np.ndarray, gains: np.ndarray) -> None:
    """One decision per instance, inserted DECISION_BATCH at a time (bulk_create would first build all
    million model objects)."""
    human, gain = mask.tolist(), gains.astype(float).tolist()
    for start in range(0, len(ids), DECISION_BATCH):
        RoutingDecision.objects.bulk_create(
            [
                RoutingDecision(
                    run=run,
                    instance_id=ids[k],
                    route=RoutingDecision.Route.HUMAN if human[k] else RoutingDecision.Route.LM,
                    gain=gain[k],
                )
                for k in range(start, min(start + DECISION_BATCH, len(ids)))
            ]
        )


def gain_report(
    project: Project, artifact: PPMArtifact, n: int = 100, trials: int = 10, seed: int = 0
) -> list[dict[str, Any]]:
    """Per-tag gain table (paper Table 12) for the project under the PPM."""
    ppm, builder = _builder_for(project, artifact)
    return tag_gain_table(ppm, builder, np.random.default_rng(seed), n=n, trials=trials)
