"""A judge's verdict per response order, from a file (issue 12.6): stored as the per-order records the judge
command writes and reconciled by the judge command's own rule, so both paths give the same label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.importing import DatasetImportError
from annotation.importing.writer import import_file
from annotation.judging.models import LMJudgment
from annotation.judging.services import write_labels
from annotation.models import Instance, LabelSource, LMLabel, Project
from models.lm.judge import reconcile

pytestmark = pytest.mark.django_db

CASES = {  # id -> per-order verdicts as the file gives them (canonical order: A = response_a)
    "agree": {"ab": "A", "ba": "A"},
    "disagree": {"ab": "A", "ba": "B"},
    "strength": {"AB": -2, "BA": -1},
    "tie-vs-b": {"ab": "tie", "ba": 3},
}


def write(path: Path, cases: dict, judge: str = "judge-x") -> Path:
    rows = [
        {"id": key, "prompt": "p", "response_a": "a", "response_b": "b", "lm_labels": {judge: verdicts}}
        for key, verdicts in cases.items()
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def proj(db) -> Project:
    return Project.objects.create(name="orders")


def test_both_orders_are_stored_per_order_and_reconciled_like_the_judge_command(tmp_path, proj):
    report = import_file(proj, write(tmp_path / "orders.jsonl", CASES))
    assert report.lm_labels == 4 and report.notes["LM verdicts whose orders disagree (judge-x)"] == 2
    stored = {
        (row.instance.external_id, row.order): row.verdict
        for row in LMJudgment.objects.filter(judge="judge-x").select_related("instance")
    }
    assert stored == {
        ("agree", "AB"): -1,
        ("agree", "BA"): -1,
        ("disagree", "AB"): -1,
        ("disagree", "BA"): 1,
        ("strength", "AB"): -2,
        ("strength", "BA"): -1,
        ("tie-vs-b", "AB"): 0,
        ("tie-vs-b", "BA"): 3,
    }
    imported = {
        label.instance.external_id: (label.preference, label.consistent)
        for label in LMLabel.objects.filter(judge="judge-x").select_related("instance")
    }
    assert imported == {
        "agree": (-1, True),
        "disagree": (0, False),
        "strength": (-1, True),
        "tie-vs-b": (0, False),
    }
    for key, (preference, consistent) in imported.items():
        expected = reconcile(stored[(key, "AB")], stored[(key, "BA")])
        assert (expected.preference, expected.consistent) == (preference, consistent)
    # The judge command's own writer, run over the stored per-order records, gives the same labels.
    write_labels(list(Instance.objects.filter(project=proj)), "judge-x", "")
    rewritten = {
        label.instance.external_id: (label.preference, label.consistent)
        for label in LMLabel.objects.filter(judge="judge-x").select_related("instance")
    }
    assert rewritten == imported


def test_reimport_is_unchanged_and_update_replaces_the_orders(tmp_path, proj):
    path = write(tmp_path / "orders.jsonl", CASES)
    import_file(proj, path)
    assert import_file(proj, path).unchanged == 4
    changed = {**CASES, "disagree": {"ab": "B", "ba": "A"}}  # same reconciled tie, different orders
    write(path, changed)
    with pytest.raises(DatasetImportError, match="refused: 1 instance ids already exist"):
        import_file(proj, path)
    report = import_file(proj, path, on_existing="update")
    assert report.updated == 1
    verdicts = dict(
        LMJudgment.objects.filter(instance__external_id="disagree").values_list("order", "verdict")
    )
    assert verdicts == {"AB": 1, "BA": -1}
    assert LMJudgment.objects.count() == 8
    label = LMLabel.objects.get(instance__external_id="disagree")
    assert label.source == LabelSource.IMPORTED and label.details["orders"]["AB"]["verdict"] == 1


def test_a_null_order_gives_no_label_and_bad_keys_are_refused(tmp_path, proj):
    report = import_file(proj, write(tmp_path / "half.jsonl", {"half": {"ab": "A", "ba": None}}))
    assert report.lm_labels == 0 and report.notes["missing LM verdicts (judge-x)"] == 1
    assert not LMJudgment.objects.exists()
    with pytest.raises(DatasetImportError, match=r"field 'lm_labels.judge-x.first': expected the keys"):
        import_file(proj, write(tmp_path / "bad.jsonl", {"bad": {"first": "A", "ba": "B"}}))
    with pytest.raises(DatasetImportError, match=r"field 'lm_labels.judge-x': expected both"):
        import_file(proj, write(tmp_path / "one.jsonl", {"one": {"ab": "A"}}))
    with pytest.raises(DatasetImportError, match=r"field 'lm_labels.judge-x.ba': expected A, B, tie"):
        import_file(proj, write(tmp_path / "seven.jsonl", {"seven": {"ab": "A", "ba": 7}}))
