"""Maintained counts of a project's rows, so that pages show them without counting a million rows.

``ProjectCount`` holds, per project: its instances, its human labels per source and its LM labels per
(judge, prompt version). Database triggers keep the numbers (migration ``0002_projectcount``): every insert
or delete of an instance or a label changes them in the same transaction, whatever wrote it (the importer's
bulk inserts, a submitted task, an LM judge, a cascade). ``recount`` rebuilds them from the tables (the
``recount_projects`` command): the repair when a count was ever written by hand or a trigger was missing.
"""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import Count

from annotation.models.instances import Instance
from annotation.models.labels import HumanLabel, LMLabel
from annotation.models.projects import Project


class ProjectCount(models.Model):
    """One maintained count: ``kind`` says of what, ``source`` / ``judge`` / ``prompt_version`` which group."""

    class Kind(models.TextChoices):
        INSTANCES = "instances", "Instances"
        HUMAN = "human", "Human labels of one source"
        LM = "lm", "LM labels of one judge and prompt version"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="counts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=16, blank=True, default="")
    judge = models.CharField(max_length=255, blank=True, default="")
    prompt_version = models.CharField(max_length=64, blank=True, default="")
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "source", "judge", "prompt_version"], name="one_count_per_group"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.kind} {self.source}{self.judge}/{self.prompt_version}: {self.n}"


def _counted(project: Project) -> list[ProjectCount]:
    """The project's counts as the tables say now (three grouped, indexed counts)."""
    kind = ProjectCount.Kind
    rows = [
        ProjectCount(project=project, kind=kind.INSTANCES, n=Instance.objects.filter(project=project).count())
    ]
    human = HumanLabel.objects.filter(instance__project=project).values("source").annotate(c=Count("id"))
    rows += [
        ProjectCount(project=project, kind=kind.HUMAN, source=g["source"], n=g["c"]) for g in human.order_by()
    ]
    lm = (
        LMLabel.objects.filter(instance__project=project)
        .values("judge", "prompt_version")
        .annotate(c=Count("id"))
    )
    rows += [
        ProjectCount(
            project=project, kind=kind.LM, judge=g["judge"], prompt_version=g["prompt_version"], n=g["c"]
        )
        for g in lm.order_by()
    ]
    return rows


def _key(row: ProjectCount) -> tuple[str, str, str, str]:
    return (row.kind, row.source, row.judge, row.prompt_version)


def recount(project: Project) -> int:
    """Rebuild the project's counts from its rows; returns how many stored counts were wrong or missing.

    The stored counts are locked first, so a label written meanwhile waits and then adds itself to the
    fresh number: the repair is exact while people annotate.
    """
    with transaction.atomic():
        stored = {_key(r): r for r in ProjectCount.objects.select_for_update().filter(project=project)}
        fresh = {_key(r): r for r in _counted(project)}
        wrong = [key for key, row in fresh.items() if key not in stored or stored[key].n != row.n]
        stale = [row.pk for key, row in stored.items() if key not in fresh and row.n != 0]
        ProjectCount.objects.filter(pk__in=stale).update(n=0)
        for key in wrong:
            ProjectCount.objects.update_or_create(
                project=project,
                kind=key[0],
                source=key[1],
                judge=key[2],
                prompt_version=key[3],
                defaults={"n": fresh[key].n},
            )
    return len(wrong) + len(stale)


def project_counts(project: Project) -> dict:
    """The project's counts for pages: instances, human labels by source, LM labels by judge and version."""
    rows = ProjectCount.objects.filter(project=project, n__gt=0).order_by(
        "kind", "judge", "prompt_version", "source"
    )
    counts = {"instances": 0, "human": {}, "lm": []}
    for row in rows:
        if row.kind == ProjectCount.Kind.INSTANCES:
            counts["instances"] = row.n
        elif row.kind == ProjectCount.Kind.HUMAN:
            counts["human"][row.source] = row.n
        else:
            counts["lm"].append({"judge": row.judge, "prompt_version": row.prompt_version, "n": row.n})
    return counts
