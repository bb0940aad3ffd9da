"""The workflow's answer to ``annotation.gold``: known preferences of gold items, from ``GoldAnswer``."""

from __future__ import annotations

from collections.abc import Iterable

from annotation.workflow.models import GoldAnswer


def known_gold_answers(instance_ids: Iterable[int]) -> dict[int, int]:
    """Known preferences (canonical order) of the gold items among ``instance_ids``."""
    answers = GoldAnswer.objects.filter(instance_id__in=list(instance_ids), preference__isnull=False)
    return {
        instance_id: int(preference)
        for instance_id, preference in answers.values_list("instance_id", "preference")
    }
