"""Prepared queries (compiled once per process) give what the queryset gives, and a key that misses a choice
is caught by the verification the test settings turn on."""

from __future__ import annotations

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from annotation.api.prepared import PreparedQueryError, prepared
from annotation.models import Instance
from tests.workflow.conftest import make_instances


def _instances(project_id: int, prefix: str, since) -> object:
    return (
        Instance.objects.filter(project=project_id, external_id__gte=prefix, project__created_at__gte=since)
        .select_related("project")
        .annotate(labels=Count("human_labels"))
        .order_by("pk")
    )


@pytest.mark.django_db
def test_prepared_rows_equal_the_querysets_rows_for_other_values(mp_project):
    make_instances(mp_project, 3, prefix="x")
    long_ago = timezone.now().replace(year=2000)
    for prefix in ("i", "x", "nothing"):
        values = {"project_id": mp_project.pk, "prefix": prefix, "since": long_ago}
        rows = prepared(("test-instances",), _instances, **values)
        expected = list(_instances(**values))
        assert [(r.pk, r.external_id, r.project.name, r.labels) for r in rows] == [
            (r.pk, r.external_id, r.project.name, r.labels) for r in expected
        ]
    assert (
        len(prepared(("test-instances",), _instances, project_id=mp_project.pk, prefix="x", since=long_ago))
        == 3
    )


@pytest.mark.django_db
def test_a_key_that_misses_a_choice_fails_verification(mp_project, settings):
    settings.PREPARED_QUERIES_VERIFY = True
    choice = {"with_x": False}

    def build(project_id: int):
        rows = Instance.objects.filter(project=project_id)
        return rows.filter(Q(external_id__startswith="x")) if choice["with_x"] else rows

    prepared(("test-missing-choice",), build, project_id=mp_project.pk)
    choice["with_x"] = True  # the SQL changes, the key does not
    with pytest.raises(PreparedQueryError, match="differs from a fresh compile"):
        prepared(("test-missing-choice",), build, project_id=mp_project.pk)


@pytest.mark.django_db
def test_values_that_change_a_querys_shape_are_refused(mp_project):
    with pytest.raises(PreparedQueryError, match="put them in the key"):
        prepared(("test-bool",), lambda flag: Instance.objects.filter(project__isnull=flag), flag=True)
    with pytest.raises(PreparedQueryError, match="part of the parameter"):  # LIKE 'x%': not the value itself
        prepared(
            ("test-like",), lambda prefix: Instance.objects.filter(external_id__startswith=prefix), prefix="x"
        )
    with pytest.raises(PreparedQueryError, match="do not appear"):
        prepared(("test-unused",), lambda project_id: Instance.objects.all(), project_id=mp_project.pk)
