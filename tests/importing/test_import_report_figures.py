"""Figures over imported labels that must not flatter or hide (issue 10.9): the dataset card's agreement of
the human inputs with their aggregate counts multi-vote items only and says how many; a tag with too many
values for a breakdown gets a note, not an empty section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.datasets.exporting import card_markdown, dataset_card
from annotation.datasets.report import agreement_report, format_report
from annotation.datasets.services import build_dataset_version
from annotation.importing.writer import import_file
from annotation.models import Project

pytestmark = pytest.mark.django_db


def votes(*labels: str) -> list[dict]:
    return [{"annotator": f"ann{k}", "label": label} for k, label in enumerate(labels)]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_card_agreement_counts_multi_vote_rows_only_and_says_how_many(tmp_path):
    rows = [
        {
            "id": "three",
            "prompt": "p",
            "response_a": "a",
            "response_b": "b",
            "human_labels": votes("A", "A", "B"),
        },
        {"id": "two", "prompt": "p", "response_a": "a", "response_b": "b", "human_labels": votes("B", "B")},
        *(
            {"id": f"one{i}", "prompt": "p", "response_a": "a", "response_b": "b", "human_labels": votes("A")}
            for i in range(4)
        ),
    ]
    project = Project.objects.create(name="card")
    import_file(project, write(tmp_path / "votes.jsonl", rows))
    version = build_dataset_version(project, "v1", mode="all_human")
    assert version.counts["mean_human_agreement"] == pytest.approx((2 / 3 + 1) / 2)  # not (2/3 + 5) / 6
    assert version.counts["mean_human_agreement_rows"] == 2
    assert version.counts["human_single_vote_rows"] == 4
    text = card_markdown(dataset_card(version, {}, [], [], []))
    assert (
        "- mean agreement of the human inputs with their aggregate, over the 2 human rows with two or more "
        "votes: 83.3%; 4 single-vote human rows left out"
    ) in text


def test_a_tag_with_more_values_than_a_breakdown_shows_gets_a_note(tmp_path):
    rows = [
        {
            "id": f"i{i}",
            "prompt": "p",
            "response_a": "a",
            "response_b": "b",
            "category": f"cat{i}",  # 60 distinct values
            "source": "web" if i % 2 else "book",
            "human_labels": votes("A", "B" if i % 3 else "A"),
        }
        for i in range(60)
    ]
    project = Project.objects.create(name="tags")
    import_file(project, write(tmp_path / "tags.jsonl", rows))
    report = agreement_report(project, tag_keys=["category", "source"])
    assert set(report["per_tag"]) == {"source"}
    assert report["per_tag_skipped"] == {"category": {"values": 60, "limit": 50}}
    text = format_report(report)
    assert "per category: no breakdown: 60 values, more than the 50 a breakdown shows" in text
    assert "per source:" in text
