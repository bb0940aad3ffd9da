"""Judging and tagging a project's instances, resumably; the report of LM labels against the human majority.

Resumable and idempotent (docs/CONVENTIONS.md): each batch looks at what is stored and asks the backend only
for the (instance, order) pairs that are missing, then stores the answers at once in one transaction. A
killed worker therefore loses at most the batch in flight, and a re-run neither duplicates rows nor pays for
finished orders again. Backend failures (timeouts, HTTP errors) are NOT stored, so a re-run retries them;
outputs that came back but did not parse ARE stored (raw, with the parse error): they were paid for.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction

from annotation.core.aggregation import HELPSTEER2 as HELPSTEER2_METHOD
from annotation.core.aggregation import MAJORITY, LabelInput, aggregate
from annotation.core.schemes import HELPSTEER2
from annotation.judging.models import LMJudgment, PromptTagRecord
from annotation.models import HumanLabel, Instance, LabelSource, LMLabel, Project
from models.lm.factory import judge_name, make_backend, make_judge
from models.lm.judge import ORDERS, Judge, OrderVerdict, PairItem, reconcile
from models.lm.taggers import PromptTagger

Progress = Callable[[int, int, str], None]


@dataclass
class RunSummary:
    """Cost and throughput of one run (printed at the end of ``manage.py judge``)."""

    judge: str
    prompt_version: str
    items: int = 0
    items_labelled: int = 0
    orders_requested: int = 0
    orders_skipped: int = 0
    orders_stored: int = 0
    backend_failures: int = 0
    unparsed: int = 0
    inconsistent: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    failure_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["orders_per_second"] = self.orders_stored / self.wall_seconds if self.wall_seconds else None
        return out

    def format(self) -> str:
        rate = f"{self.orders_stored / self.wall_seconds:.2f}" if self.wall_seconds else "-"
        lines = [
            f"judge {self.judge} prompt {self.prompt_version}: {self.items} items, "
            f"{self.items_labelled} labelled ({self.inconsistent} with orders disagreeing)",
            f"  orders: {self.orders_stored} judged now, {self.orders_skipped} already stored, "
            f"{self.backend_failures} backend failures (will be retried), {self.unparsed} unparsed outputs kept raw",
            f"  tokens: {self.prompt_tokens} prompt + {self.completion_tokens} completion; "
            f"model time {self.model_seconds:.1f} s, wall {self.wall_seconds:.1f} s, {rate} judgments/s",
        ]
        lines += [f"  failure: {example}" for example in self.failure_examples]
        return "\n".join(lines)


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store_verdicts(
    judge: Judge,
    name: str,
    jobs: list[tuple[Instance, str]],
    verdicts: list[OrderVerdict],
    summary: RunSummary,
) -> None:
    rows = []
    for (instance, order), verdict in zip(jobs, verdicts, strict=True):
        if verdict.backend_error:
            summary.backend_failures += 1
            if len(summary.failure_examples) < 5:
                summary.failure_examples.append(
                    f"{instance.external_id} {order}: {verdict.backend_error[:160]}"
                )
            continue
        if verdict.verdict is None:
            summary.unparsed += 1
        summary.prompt_tokens += verdict.prompt_tokens
        summary.completion_tokens += verdict.completion_tokens
        summary.model_seconds += verdict.seconds
        rows.append(
            LMJudgment(
                instance=instance,
                judge=name,
                model=judge.backend.model,
                prompt_version=judge.prompt_version,
                order=order,
                decoding=judge.decoding(),
                raw_output=verdict.raw,
                verdict=verdict.verdict,
                parse_error=verdict.parse_error or "",
                confidence=verdict.confidence,
                logprobs=verdict.probabilities,
                details=verdict.details,
                prompt_tokens=verdict.prompt_tokens,
                completion_tokens=verdict.completion_tokens,
                seconds=verdict.seconds,
            )
        )
    # ignore_conflicts: if two workers raced on one batch, the first stored answer stands.
    LMJudgment.objects.bulk_create(rows, ignore_conflicts=True)
    summary.orders_stored += len(rows)


def write_labels(
    instances: list[Instance], name: str, prompt_version: str, policy: str = "tie"
) -> tuple[int, int]:
    """Reconcile stored orders into annotation.LMLabel; returns (labelled, inconsistent)."""
    stored: dict[int, dict[str, LMJudgment]] = defaultdict(dict)
    for row in LMJudgment.objects.filter(
        instance__in=instances, judge=name, prompt_version=prompt_version
    ).order_by("id"):
        stored[row.instance_id][row.order] = row
    labelled = inconsistent = 0
    for instance in instances:
        ab, ba = stored[instance.pk].get("AB"), stored[instance.pk].get("BA")
        if ab is None or ba is None:
            continue
        result = reconcile(ab.verdict, ba.verdict, ab.confidence, ba.confidence, policy)  # type: ignore[arg-type]
        if result.preference is None:
            continue
        details = {
            "reason": result.reason,
            "decoding": ab.decoding,
            "orders": {
                row.order: {
                    "raw_output": row.raw_output,
                    "verdict": row.verdict,
                    "confidence": row.confidence,
                    "seconds": row.seconds,
                    "prompt_tokens": row.prompt_tokens,
                    "completion_tokens": row.completion_tokens,
                    "judgment_id": row.pk,
                }
                for row in (ab, ba)
            },
        }
        if "ratings" in ab.details or "ratings" in ba.details:
            details["ratings"] = {row.order: row.details.get("ratings") for row in (ab, ba)}
        LMLabel.objects.update_or_create(
            instance=instance,
            judge=name,
            prompt_version=prompt_version,
            defaults={
                "source": LabelSource.PLATFORM,
                "preference": result.preference,
                "confidence": result.confidence,
                "consistent": result.consistent,
                "details": details,
            },
        )
        labelled += 1
        inconsistent += result.consistent is False
    return labelled, inconsistent


def with_default_prompt(project: Project, config: dict[str, Any]) -> dict[str, Any]:
    """The judge asks with the project's own scheme unless the configuration names a prompt."""
    if config.get("prompt"):
        return config
    kind = (project.scheme or {}).get("kind")
    return {**config, "prompt": "helpsteer2-ratings" if kind == HELPSTEER2 else "multipref-overall"}


def judge_project(
    project: Project,
    config: dict[str, Any],
    batch_size: int = 16,
    limit: int | None = None,
    progress: Progress | None = None,
    judge: Judge | None = None,
) -> RunSummary:
    """Judge every instance of ``project`` in both orders (only the missing orders), then write LM labels."""
    started = time.perf_counter()
    config = with_default_prompt(project, config)
    judge = judge or make_judge(config)
    name = judge_name(config)
    policy = config.get("disagreement", "tie")
    summary = RunSummary(judge=name, prompt_version=judge.prompt_version)
    instances = list(Instance.objects.filter(project=project).order_by("id"))
    if limit is not None:
        instances = instances[:limit]
    summary.items = len(instances)
    done_orders = set(
        LMJudgment.objects.filter(
            instance__project=project, judge=name, prompt_version=judge.prompt_version
        ).values_list("instance_id", "order")
    )
    for done, batch in enumerate(_batches(instances, batch_size)):
        jobs = [(inst, order) for inst in batch for order in ORDERS if (inst.pk, order) not in done_orders]
        summary.orders_skipped += 2 * len(batch) - len(jobs)
        summary.orders_requested += len(jobs)
        if jobs:
            items = [(PairItem(i.prompt, i.response_a, i.response_b, key=i.pk), order) for i, order in jobs]
            verdicts = judge.judge_orders(items)
            with transaction.atomic():
                _store_verdicts(judge, name, jobs, verdicts, summary)
                write_labels(batch, name, judge.prompt_version, policy)
        elif not LMLabel.objects.filter(
            instance__in=batch, judge=name, prompt_version=judge.prompt_version
        ).count() == len(batch):
            with transaction.atomic():
                write_labels(batch, name, judge.prompt_version, policy)
        if progress:
            n = min((done + 1) * batch_size, len(instances))
            progress(n, len(instances), f"{n}/{len(instances)} items judged")
    labels = LMLabel.objects.filter(instance__in=instances, judge=name, prompt_version=judge.prompt_version)
    summary.items_labelled = labels.count()
    summary.inconsistent = labels.filter(consistent=False).count()
    summary.wall_seconds = time.perf_counter() - started
    return summary


# -- prompt tags ----------------------------------------------------------------------------------------------


def _last_user_turn(instance: Instance) -> str | None:
    messages = instance.messages
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content", ""))
    return None


def tag_project(
    project: Project,
    config: dict[str, Any],
    batch_size: int = 8,
    limit: int | None = None,
    progress: Progress | None = None,
    dimensions: list[str] | None = None,
) -> dict[str, Any]:
    """Tag every instance's prompt that has no record for this tagger yet; returns counts."""
    started = time.perf_counter()
    backend = make_backend(config)
    tagger = PromptTagger(backend, dimensions=dimensions)
    name = judge_name(config)
    instances = list(Instance.objects.filter(project=project).order_by("id"))
    if limit is not None:
        instances = instances[:limit]
    done = set(
        PromptTagRecord.objects.filter(
            instance__project=project, model=name, prompt_version=tagger.prompt_version
        ).values_list("instance_id", flat=True)
    )
    todo = [instance for instance in instances if instance.pk not in done]
    unknown: Counter[str] = Counter()
    tokens = 0
    for batch_index, batch in enumerate(_batches(todo, batch_size)):
        results = tagger.tag(
            [instance.prompt for instance in batch], [_last_user_turn(instance) for instance in batch]
        )
        rows = []
        for instance, result in zip(batch, results, strict=True):
            unknown.update(result.unknown)
            tokens += result.prompt_tokens + result.completion_tokens
            rows.append(
                PromptTagRecord(
                    instance=instance,
                    model=name,
                    prompt_version=tagger.prompt_version,
                    answers=result.answers,
                    raw=result.raw,
                )
            )
        with transaction.atomic():
            PromptTagRecord.objects.bulk_create(rows, ignore_conflicts=True)
            _fill_expert_domains(batch, rows, name)
        if progress:
            tagged = min((batch_index + 1) * batch_size, len(todo))
            progress(tagged, len(todo), f"{tagged}/{len(todo)} prompts tagged")
    return {
        "tagger": name,
        "prompt_version": tagger.prompt_version,
        "items": len(instances),
        "skipped": len(instances) - len(todo),
        "tagged": len(todo),
        "unknown_per_dimension": dict(unknown),
        "tokens": tokens,
        "wall_seconds": time.perf_counter() - started,
    }


def _fill_expert_domains(instances: list[Instance], records: list[PromptTagRecord], tagger: str) -> None:
    """Give instances without a domain the tagger's first expert domain, so that assignment can send them
    to experts of that domain (``Instance.metadata["domain"]``; a domain from the dataset is never replaced)."""
    changed = []
    for instance, record in zip(instances, records, strict=True):
        domains = record.answers.get("expert_domain")
        metadata = instance.metadata or {}
        if isinstance(domains, list) and domains and not metadata.get("domain"):
            instance.metadata = {**metadata, "domain": domains[0], "domain_source": f"lm-tagger:{tagger}"}
            changed.append(instance)
    Instance.objects.bulk_update(changed, ["metadata"])


# -- report ---------------------------------------------------------------------------------------------------


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def human_majority(project: Project) -> dict[int, int]:
    """instance id -> the human aggregate by the project's aggregation method (``annotation.core.aggregation``,
    the rule of the dataset export: HelpSteer2 projects by the HelpSteer2 rule, others by majority; excluded
    annotators left out), as a direction -1 / 0 / +1; dropped instances are left out."""
    method = HELPSTEER2_METHOD if (project.scheme or {}).get("kind") == HELPSTEER2 else MAJORITY
    groups: dict[int, list[LabelInput]] = defaultdict(list)
    rows = HumanLabel.objects.filter(instance__project=project).order_by("instance_id", "id")
    excluded = set(
        rows.filter(annotator__profile__excluded=True).values_list("annotator_ref", flat=True).distinct()
    )
    for instance_id, ref, pref, neither in rows.values_list(
        "instance_id", "annotator_ref", "preference", "neither_valid"
    ):
        groups[instance_id].append(LabelInput(annotator=ref, preference=pref, neither_valid=neither))
    out = {}
    for instance_id, labels in groups.items():
        result = aggregate(method, labels, excluded)
        if not result.dropped:
            out[instance_id] = _sign(result.result)
    return out


def judge_report(project: Project, judge: str | None = None) -> list[dict[str, Any]]:
    """Per (judge, prompt version): agreement with the human majority on non-tie items (missing verdict =
    disagreement), both-orders consistency, overall and per Instance.metadata["category"], and cost."""
    majority = human_majority(project)
    category = {
        pk: (meta or {}).get("category") or "(none)"
        for pk, meta in Instance.objects.filter(project=project).values_list("id", "metadata")
    }
    labels = LMLabel.objects.filter(instance__project=project)
    if judge:
        labels = labels.filter(judge=judge)
    grouped: dict[tuple[str, str], dict[int, LMLabel]] = defaultdict(dict)
    for label in labels.order_by("id"):
        grouped[(label.judge, label.prompt_version)][label.instance_id] = label
    if judge and not grouped:
        grouped[(judge, "")] = {}
    reports = []
    for (name, version), by_instance in sorted(grouped.items()):
        overall = _agreement(majority, by_instance, list(majority))
        per_category = {}
        for cat in sorted({category[pk] for pk in majority}):
            ids = [pk for pk in majority if category[pk] == cat]
            per_category[cat] = _agreement(majority, by_instance, ids)
        cost = _cost(project, name, version)
        reports.append(
            {"judge": name, "prompt_version": version, **overall, "per_category": per_category, "cost": cost}
        )
    return reports


def _agreement(majority: dict[int, int], labels: dict[int, LMLabel], ids: list[int]) -> dict[str, Any]:
    non_tie = [pk for pk in ids if majority[pk] != 0]
    agree = sum(1 for pk in non_tie if pk in labels and _sign(labels[pk].preference) == majority[pk])
    judged = [labels[pk] for pk in ids if pk in labels]
    checked = [lab for lab in judged if lab.consistent is not None]
    return {
        "items_with_majority": len(ids),
        "non_tie_items": len(non_tie),
        "missing_on_non_tie": sum(1 for pk in non_tie if pk not in labels),
        "agreement": agree / len(non_tie) if non_tie else None,
        "labelled": len(judged),
        "consistency": sum(1 for lab in checked if lab.consistent) / len(checked) if checked else None,
        "consistency_checked": len(checked),
    }


def _cost(project: Project, name: str, version: str) -> dict[str, Any] | None:
    rows = LMJudgment.objects.filter(instance__project=project, judge=name, prompt_version=version)
    n = rows.count()
    if not n:
        return None
    values = list(rows.values_list("prompt_tokens", "completion_tokens", "seconds", "verdict"))
    seconds = sum(v[2] for v in values)
    return {
        "judgments": n,
        "unparsed": sum(1 for v in values if v[3] is None),
        "prompt_tokens": sum(v[0] for v in values),
        "completion_tokens": sum(v[1] for v in values),
        "model_seconds": seconds,
        "judgments_per_model_second": n / seconds if seconds else None,
    }


def format_report(reports: list[dict[str, Any]]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = []
    for r in reports:
        lines.append(
            f"{r['judge']} [{r['prompt_version'] or 'no prompt version'}]: agreement {pct(r['agreement'])} on "
            f"{r['non_tie_items']} non-tie majority items ({r['missing_on_non_tie']} without a verdict, counted "
            f"as disagreement); both-orders consistency {pct(r['consistency'])} on {r['consistency_checked']} items"
        )
        for cat, stats in r["per_category"].items():
            lines.append(
                f"  {cat}: agreement {pct(stats['agreement'])} (n={stats['non_tie_items']}), "
                f"consistency {pct(stats['consistency'])} (n={stats['consistency_checked']})"
            )
        if r["cost"]:
            c = r["cost"]
            lines.append(
                f"  cost: {c['judgments']} judgments ({c['unparsed']} unparsed), {c['prompt_tokens']} prompt + "
                f"{c['completion_tokens']} completion tokens, {c['model_seconds']:.1f} model seconds"
            )
    return "\n".join(lines) if lines else "no LM labels in this project"
