"""Label integrity and what annotators may know: lease tokens across tabs, kept display order, the late
submit's release, no gold / routing / budget facts for annotators, skipped gold in the quality figures."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import HumanLabel
from annotation.workflow import assignment as tasks
from annotation.workflow.models import Assignment, GoldAnswer, QuotaState
from annotation.workflow.settings_store import settings_for
from tests.workflow.conftest import MP_ANSWER, make_instances, qualified_annotator

pytestmark = pytest.mark.django_db


def tab(user):
    """One browser tab of ``user``: its own API client (same person, separate page state)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def next_task(client, project) -> dict | None:
    return client.post(f"/api/projects/{project.name}/tasks/next/", format="json").json()["task"]


def submit(client, project, task_id: int, answer: dict, token):
    body = {"answer": answer} if token is None else {"answer": answer, "lease_token": token}
    return client.post(f"/api/projects/{project.name}/tasks/{task_id}/submit/", body, format="json")


def expire(task_id: int) -> None:
    Assignment.objects.filter(pk=task_id).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_a_stale_tab_cannot_store_an_answer_against_a_reissued_lease(mp_project):
    person = qualified_annotator(mp_project, "two-tabs")
    first_tab, second_tab = tab(person), tab(person)
    old = next_task(first_tab, mp_project)
    shown_first = old["responses"][0]["html"]
    expire(old["id"])
    new = next_task(second_tab, mp_project)  # the expired lease is re-issued to the same person
    assert new["id"] == old["id"] and new["lease_token"] != old["lease_token"]
    assert new["responses"][0]["html"] == shown_first  # same display order after re-leasing

    stale = submit(first_tab, mp_project, old["id"], MP_ANSWER, old["lease_token"])
    assert stale.status_code == 409 and "handed out again" in stale.json()["detail"]
    assert not HumanLabel.objects.exists()
    assert submit(first_tab, mp_project, old["id"], MP_ANSWER, None).json()["field"] == "lease_token"

    assert submit(second_tab, mp_project, new["id"], MP_ANSWER, new["lease_token"]).status_code == 201
    label = HumanLabel.objects.get()
    swapped = Assignment.objects.get(pk=new["id"]).shown_swapped
    # "A slightly better" meant the response shown first: response_b when swapped
    assert label.shown_swapped == swapped and label.preference == (1 if swapped else -1)
    again = submit(first_tab, mp_project, old["id"], MP_ANSWER, new["lease_token"])
    assert again.status_code == 409 and HumanLabel.objects.count() == 1


def test_reloading_in_another_tab_keeps_the_same_lease(mp_project):
    person = qualified_annotator(mp_project, "reloader")
    first = next_task(tab(person), mp_project)
    second = next_task(tab(person), mp_project)
    assert (second["id"], second["lease_token"]) == (first["id"], first["lease_token"])


@pytest.mark.parametrize("seed", range(6))
def test_re_leasing_keeps_the_display_order(mp_project, seed):
    mp_project.overlap = {"normal": 4}
    mp_project.save()
    person = qualified_annotator(mp_project, "order")
    first = tasks.next_task(person, mp_project, rng=random.Random(seed)).assignment
    expire(first.pk)
    again = tasks.next_task(person, mp_project, rng=random.Random(seed + 100)).assignment
    assert again.pk == first.pk and again.shown_swapped == first.shown_swapped
    assert again.lease_token != first.lease_token


def test_skip_needs_the_lease_token(api_client, mp_project):
    person = qualified_annotator(mp_project, "skipper")
    client = tab(person)
    task = next_task(client, mp_project)
    url = f"/api/projects/{mp_project.name}/tasks/{task['id']}/skip/"
    assert client.post(url, {"reason": "unsure"}, format="json").json()["field"] == "lease_token"
    wrong = client.post(url, {"lease_token": "not-the-token"}, format="json")
    assert wrong.status_code == 409 and Assignment.objects.get(pk=task["id"]).status == "active"
    assert client.post(url, {"lease_token": task["lease_token"]}, format="json").status_code == 200


def test_the_late_submit_409_keeps_the_release_it_reports(mp_project):
    mp_project.overlap = {"normal": 1}
    mp_project.save()
    alice, bob = qualified_annotator(mp_project, "alice"), qualified_annotator(mp_project, "bob")
    held = tasks.next_task(alice, mp_project).assignment
    expire(held.pk)
    taken = tasks.next_task(bob, mp_project).assignment
    assert taken.instance_id == held.instance_id
    tasks.submit(taken.pk, bob, MP_ANSWER, lease_token=taken.lease_token)
    with pytest.raises(tasks.TaskError, match="expired and others completed it"):
        tasks.submit(held.pk, alice, MP_ANSWER, lease_token=held.lease_token)
    assert Assignment.objects.get(pk=held.pk).status == "released"
    assert QuotaState.objects.get(instance_id=held.instance_id).normal == 1
    assert HumanLabel.objects.filter(instance_id=held.instance_id).count() == 1


def test_the_release_is_kept_when_the_quota_shrank_under_an_expired_lease(mp_project):
    mp_project.overlap = {"normal": 1}
    mp_project.save()
    alice = qualified_annotator(mp_project, "alice")
    held = tasks.next_task(alice, mp_project).assignment
    expire(held.pk)
    mp_project.overlap = {"normal": 0}  # the researchers need no more normal answers here
    mp_project.save()
    with pytest.raises(tasks.TaskError, match="expired"):
        tasks.submit(held.pk, alice, MP_ANSWER, lease_token=held.lease_token)
    assert Assignment.objects.get(pk=held.pk).status == "released"
    assert QuotaState.objects.get(instance_id=held.instance_id).normal == 0


def test_a_late_submit_with_an_open_slot_is_stored(mp_project):
    alice = qualified_annotator(mp_project, "alice")
    held = tasks.next_task(alice, mp_project).assignment
    expire(held.pk)
    label = tasks.submit(held.pk, alice, MP_ANSWER, lease_token=held.lease_token)
    assert label.instance_id == held.instance_id
    assert QuotaState.objects.get(instance_id=held.instance_id).normal == 1


FORBIDDEN = [
    "gold",
    "routing",
    "routed",
    "run #",
    "budget",
    "quota",
    "stage",
    "remaining",
    "tier",
    "check item",
]


def _routed_with_gold(project):
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun

    gold = make_instances(project, 2, prefix="x")  # ids that do not say "gold"
    for item in gold:
        GoldAnswer.objects.create(instance=item, preference=-2)
    ppm = PPMArtifact.objects.create(name="ppm", kind="linear", path="unused")
    run = RoutingRun.objects.create(
        project=project, budget=3, strategy="simulated", ppm=ppm, predicted_performance=0.5
    )
    RoutingDecision.objects.bulk_create(
        RoutingDecision(run=run, instance=i, route="human", gain=0.0) for i in project.instances.all()
    )
    conf = settings_for(project)
    conf.gold_rate = 1.0
    conf.save()


def test_annotators_see_no_gold_routing_or_budget_facts(client, mp_project):
    _routed_with_gold(mp_project)
    person = qualified_annotator(mp_project, "curious")
    api = tab(person)
    for _ in range(3):  # two gold items first (rate 1.0), then a routed one
        reply = api.post(f"/api/projects/{mp_project.name}/tasks/next/", format="json")
        text = reply.content.decode().lower()
        assert not [word for word in FORBIDDEN if word in text], text
        task = reply.json()["task"]
        assert set(task) >= {"id", "lease_token", "responses", "why"} and "is_gold" not in task
        assert submit(api, mp_project, task["id"], MP_ANSWER, task["lease_token"]).status_code == 201
    client.force_login(person)
    page = client.get(f"/annotate/{mp_project.name}/task/").content.decode()
    why = page[page.index("Why this task?") :][:400].lower()
    assert not [word for word in FORBIDDEN if word in why], why


def test_researchers_keep_the_stages_and_skipped_gold_counts_as_a_miss(api_client, mp_project, researcher):
    _routed_with_gold(mp_project)
    person = qualified_annotator(mp_project, "gold-skipper")
    first = tasks.next_task(person, mp_project).assignment
    second = tasks.next_task(person, mp_project, rng=random.Random(1))
    assert first.tier == "gold"
    tasks.skip(first.pk, person, "unsure", lease_token=first.lease_token)
    second = tasks.next_task(person, mp_project).assignment
    assert second.tier == "gold"
    right = {**MP_ANSWER, "overall": "B-clearly" if second.shown_swapped else "A-clearly"}
    tasks.submit(second.pk, person, right, lease_token=second.lease_token)

    api_client.force_authenticate(researcher)
    reply = api_client.get(f"/api/projects/{mp_project.name}/progress/?explain=gold-skipper").json()
    (row,) = reply["annotators"]
    assert (row["gold_answered"], row["gold_correct"], row["gold_skipped"]) == (1, 1, 1)
    assert row["gold_accuracy"] == 0.5 and row["skipped"] == 1
    assert "routing run" in reply["source"]
    stages = reply["explain"]["stages"]
    assert [s["name"] for s in stages][:3] == ["routed-to-humans", "not-done-by-you", "quota-open-for-tier"]
    assert stages[0]["remaining"] == 6
    assert Assignment.objects.get(pk=second.pk).why[0]["name"] == "gold-mix"  # kept for researchers


def test_the_repair_command_recounts_drifted_counters(mp_project):
    from django.core.management import call_command

    person = qualified_annotator(mp_project, "counted")
    held = tasks.next_task(person, mp_project).assignment
    QuotaState.objects.filter(pk=held.instance_id).update(normal=0, swapped=3)  # drift, e.g. a manual edit
    out = io.StringIO()
    call_command("rebuild_quota_counters", mp_project.name, stdout=out)
    assert out.getvalue().startswith("1 quota rows")
    row = QuotaState.objects.get(pk=held.instance_id)
    assert (row.normal, row.swapped) == (1, int(held.shown_swapped))


def test_an_instance_queued_in_the_admin_is_served(client, admin_user, mp_project):
    from annotation.workflow.models import HumanQueueEntry

    extra = make_instances(mp_project, 1, prefix="late")[0]
    client.force_login(admin_user)
    reply = client.post(
        "/admin/workflow/humanqueueentry/add/", {"project": mp_project.pk, "instance": extra.pk}
    )
    assert reply.status_code == 302 and HumanQueueEntry.objects.filter(instance=extra).exists()
    assert QuotaState.objects.filter(instance=extra).exists()
