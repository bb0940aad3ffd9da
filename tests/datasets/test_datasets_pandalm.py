"""The agreement report on real data: PandaLM's 999 pairs with 3 human votes and two LM judges."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def pandalm_project(db, pandalm_path):
    from annotation.models import Project

    call_command("import_instances", "pandalm", str(pandalm_path), stdout=StringIO())
    return Project.objects.get(name="pandalm")


def test_agreement_report_reproduces_known_figures(pandalm_project):
    out = StringIO()
    call_command("agreement_report", "pandalm", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["instances"] == 999
    assert report["majority"] == {"A": 422, "B": 472, "tie": 105}
    assert report["unanimous"] == 879
    gpt = report["lm_judges"]["gpt-3.5-turbo"]
    assert gpt["non_tie_items"] == 894
    assert round(gpt["agreement_non_tie"], 3) == 0.774
    assert gpt["missing"] == 25
    pandalm = report["lm_judges"]["pandalm-7b"]
    assert round(pandalm["agreement_non_tie"], 3) == 0.710
    assert set(report["per_annotator"]) == {"annotator1", "annotator2", "annotator3"}
    assert "category" in report["per_tag"]


def test_agreement_report_text(pandalm_project):
    out = StringIO()
    call_command("agreement_report", "pandalm", stdout=out)
    text = out.getvalue()
    assert "majority label counts: A 422, B 472, tie 105" in text
    assert "unanimous items: 879" in text
    assert "on 894 non-tie items 0.774" in text
