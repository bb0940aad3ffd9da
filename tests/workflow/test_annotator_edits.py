"""Second thoughts and feedback through the API and pages: edit with history until a dataset version freezes
the label, skip with a reason and undo, every field error at once, fresh pages, a researcher's "Annotate"."""

from __future__ import annotations

import copy

import pytest

from annotation.datasets.models import Aggregate
from annotation.datasets.services import build_dataset_version, refresh_aggregates
from annotation.models import HumanLabel
from annotation.workflow.models import Assignment, LabelEdit
from tests.workflow.conftest import HS_ANSWER, MP_ANSWER, qualified_annotator

pytestmark = pytest.mark.django_db


def _client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def _next(client, project) -> dict:
    return client.post(f"/api/projects/{project.name}/tasks/next/").json()["task"]


def _submit(client, project, task: dict, answer: dict):
    body = {"answer": answer, "lease_token": task.get("lease_token", "")}
    return client.post(f"/api/projects/{project.name}/tasks/{task['id']}/submit/", body, format="json")


def _skip(client, project, task: dict, reason: str):
    body = {"reason": reason, "lease_token": task.get("lease_token", "")}
    return client.post(f"/api/projects/{project.name}/tasks/{task['id']}/skip/", body, format="json")


def _two_labels(api_client, project):
    """Two annotators answer the same first instance (A slightly better); returns (first user, task id)."""
    first, second = qualified_annotator(project, "ann1"), qualified_annotator(project, "ann2")
    tasks = {}
    for user in (first, second):
        client = _client(api_client, user)
        task = _next(client, project)
        answer = copy.deepcopy(MP_ANSWER)
        if Assignment.objects.get(pk=task["id"]).shown_swapped:  # same canonical answer in either order
            answer["overall"] = "B-slightly"
        assert _submit(client, project, task, answer).status_code == 201
        tasks[user.username] = task["id"]
    return first, tasks["ann1"]


def test_an_edit_keeps_history_and_recounts_the_aggregate(api_client, mp_project):
    user, task = _two_labels(api_client, mp_project)
    refresh_aggregates(mp_project)
    label = Assignment.objects.get(pk=task).label
    assert Aggregate.objects.get(instance=label.instance, method="majority").result == -1
    swapped = label.shown_swapped
    changed = copy.deepcopy(MP_ANSWER)
    changed["overall"] = "A-clearly" if swapped else "B-clearly"  # now canonical B clearly better
    client = _client(api_client, user)
    reply = client.post(f"/api/projects/mp/tasks/{task}/edit/", {"answer": changed}, format="json")
    assert reply.status_code == 200 and reply.json()["edits"] == 1
    label.refresh_from_db()
    assert label.preference == 2
    edit = LabelEdit.objects.get(label=label)
    assert edit.user == user and edit.old["preference"] == -1 and edit.new["preference"] == 2
    assert edit.old["answers"]["overall"] != edit.new["answers"]["overall"]
    aggregate = Aggregate.objects.get(instance=label.instance, method="majority")
    assert (aggregate.result, aggregate.agreement) == (0, 0.0)  # one vote each way now: recounted
    history = client.get(f"/api/projects/mp/tasks/{task}/history/").json()
    assert len(history["edits"]) == 1
    recent = client.get("/api/projects/mp/tasks/recent/").json()["tasks"]
    assert recent[0]["task"] == task and recent[0]["editable"] and recent[0]["edits"] == 1


def test_a_label_used_by_a_dataset_version_is_frozen(api_client, mp_project):
    user, task = _two_labels(api_client, mp_project)
    label = Assignment.objects.get(pk=task).label
    build_dataset_version(mp_project, "v1", mode="all_human")
    client = _client(api_client, user)
    reply = client.post(f"/api/projects/mp/tasks/{task}/edit/", {"answer": MP_ANSWER}, format="json")
    assert reply.status_code == 409 and "v1" in reply.json()["detail"]
    assert not LabelEdit.objects.exists() and HumanLabel.objects.get(pk=label.pk).answers == label.answers
    assert client.get("/api/projects/mp/tasks/recent/").json()["tasks"][0]["editable"] is False


def test_only_your_own_submitted_tasks_can_be_edited(api_client, mp_project):
    _, task = _two_labels(api_client, mp_project)
    other = _client(api_client, qualified_annotator(mp_project, "ann3"))
    reply = other.post(f"/api/projects/mp/tasks/{task}/edit/", {"answer": MP_ANSWER}, format="json")
    assert reply.status_code == 404
    held = _next(other, mp_project)
    reply = other.post(f"/api/projects/mp/tasks/{held['id']}/edit/", {"answer": MP_ANSWER}, format="json")
    assert reply.status_code == 409 and "submitted" in reply.json()["detail"]


def test_every_field_error_comes_back_at_once_in_words(api_client, hs_project):
    client = _client(api_client, qualified_annotator(hs_project, "ann"))
    task = _next(client, hs_project)
    answer = {"ratings": {"1": {"helpfulness": 3}, "2": HS_ANSWER["ratings"]["2"]}, "justification": ""}
    reply = _submit(client, hs_project, task, answer)
    assert reply.status_code == 400
    errors = reply.json()["errors"]
    assert set(errors) == {
        "ratings.1.correctness",
        "ratings.1.coherence",
        "ratings.1.complexity",
        "ratings.1.verbosity",
        "preference",
        "justification",
    }
    assert errors["ratings.1.verbosity"] == ["Verbosity of Response 1: please choose an answer."]
    assert errors["justification"] == ["Justification is required for this project."]
    sentences = sum(errors.values(), [])
    assert not any(
        key in sentence for key in errors if "." in key for sentence in sentences
    )  # words, not keys


def test_skip_with_a_reason_goes_to_someone_else_and_can_be_undone(
    api_client, client, mp_project, researcher
):
    mp_project.overlap = {"normal": 1}
    mp_project.save()
    skipper = _client(api_client, qualified_annotator(mp_project, "skipper"))
    task = _next(skipper, mp_project)
    assert _skip(skipper, mp_project, task, "offensive").status_code == 200
    assert Assignment.objects.get(pk=task["id"]).skip_reason == "offensive"
    assert _next(skipper, mp_project)["instance"] != task["instance"]  # never offered again to them ...
    other = _client(api_client, qualified_annotator(mp_project, "other"))
    assert _next(other, mp_project)["instance"] == task["instance"]  # ... but to someone else

    client.force_login(researcher)
    page = client.get(f"/annotate/{mp_project.name}/progress/").content.decode()
    assert "skipper" in page and "Offensive or disturbing content" in page

    back = _client(api_client, Assignment.objects.get(pk=task["id"]).user)
    reply = back.post(f"/api/projects/mp/tasks/{task['id']}/unskip/")
    assert reply.status_code == 409 and "Others" in reply.json()["detail"]  # the only slot is taken now


def test_undo_skip_brings_the_task_back_before_the_one_on_screen(api_client, mp_project):
    client = _client(api_client, qualified_annotator(mp_project, "ann"))
    task = _next(client, mp_project)
    _skip(client, mp_project, task, "unsure")
    shown = _next(client, mp_project)  # the page after the skip shows the next task
    reply = client.post(
        f"/api/projects/mp/tasks/{task['id']}/unskip/", {"release": shown["id"]}, format="json"
    )
    assert reply.status_code == 200
    row = Assignment.objects.get(pk=task["id"])
    assert row.status == "active" and row.skip_reason == "" and row.finished_at is None
    assert row.lease_token != task["lease_token"]  # the old page cannot answer for the new lease
    assert Assignment.objects.get(pk=shown["id"]).status == "released"
    assert _next(client, mp_project)["id"] == task["id"]  # it is the current task again
    again = client.post(f"/api/projects/mp/tasks/{task['id']}/unskip/", {}, format="json")
    assert again.status_code == 409
    bad = client.post(f"/api/projects/mp/tasks/{task['id']}/unskip/", {"release": "x"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "release"


def test_pages_are_never_cached_and_counts_are_fresh(client, mp_project):
    user = qualified_annotator(mp_project, "ann")
    client.force_login(user)
    home = client.get("/annotate/")
    assert "no-store" in home["Cache-Control"] and "no-cache" in home["Cache-Control"]
    assert 'class="button primary next-task"' in home.content.decode()
    task = client.get("/annotate/mp/task/")
    assert "no-store" in task["Cache-Control"]


def test_nothing_left_means_no_primary_next_task(client, mp_project):
    mp_project.overlap = {"normal": 0}
    mp_project.save()
    client.force_login(qualified_annotator(mp_project, "ann"))
    page = client.get("/annotate/").content.decode()
    assert "next-task" not in page and "data-autofocus" not in page and "Nothing left for you now" in page


def test_a_researcher_clicking_annotate_gets_a_page_saying_what_to_do(client, mp_project, researcher):
    client.force_login(researcher)
    reply = client.get("/annotate/mp/task/")
    assert reply.status_code == 403
    text = reply.content.decode()
    assert 'id="not-annotating"' in text and "Annotation progress" in text and "researchers" in text
