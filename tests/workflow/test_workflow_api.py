"""The workflow API: qualification, assignment under quotas and leases, order balance, gold, speed flags."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import HumanLabel
from annotation.workflow import assignment as tasks
from annotation.workflow.demo import DEMO_ITEMS, load_demo_qualification
from annotation.workflow.models import Assignment, GoldAnswer, QualificationAttempt
from annotation.workflow.settings_store import settings_for
from tests.conftest import make_user
from tests.workflow.conftest import HS_ANSWER, MP_ANSWER, join, qualified_annotator

pytestmark = pytest.mark.django_db


def api(client, user):
    client.force_authenticate(user)
    return client


def next_task(client, project):
    return client.post(f"/api/projects/{project.name}/tasks/next/", format="json")


def submit(client, project, task: dict, answer, time_ms=None):
    body = {"answer": answer, "lease_token": task["lease_token"]}
    if time_ms is not None:
        body["time_ms"] = time_ms
    return client.post(f"/api/projects/{project.name}/tasks/{task['id']}/submit/", body, format="json")


# --- qualification --------------------------------------------------------------------------------------


def test_qualification_fail_then_pass_then_tasks(api_client, mp_project):
    load_demo_qualification(mp_project)
    conf = settings_for(mp_project)
    conf.retake_cooldown_minutes = 0
    conf.save()
    person = join(mp_project, make_user("newbie", "annotator"))
    client = api(api_client, person)
    refused = next_task(client, mp_project)
    assert refused.status_code == 403 and refused.json()["code"] == "not-qualified"

    expected = {item["prompt"]: item["expected"] for item in DEMO_ITEMS}
    right = {"A": "A-clearly", "B": "B-clearly"}
    wrong = {"A": "B-clearly", "B": "A-clearly"}

    started = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json")
    assert started.status_code == 201
    body = started.json()
    assert len(body["items"]) == 10
    assert all(
        set(item) == {"id", "conversation", "response_a_html", "response_b_html"} for item in body["items"]
    )
    items = QualificationAttempt.objects.get(pk=body["id"]).item_ids
    from annotation.workflow.models import QualificationItem

    by_id = {i.pk: i for i in QualificationItem.objects.filter(pk__in=items)}
    answers = {str(k): (wrong if n < 2 else right)[expected[by_id[k].prompt]] for n, k in enumerate(items)}
    result = client.post(
        f"/api/projects/{mp_project.name}/qualification/attempts/{body['id']}/submit/",
        {"answers": answers},
        format="json",
    ).json()
    assert result["score"] == pytest.approx(0.8) and result["passed"] is False
    assert next_task(client, mp_project).status_code == 403

    second = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json").json()
    items = QualificationAttempt.objects.get(pk=second["id"]).item_ids
    by_id = {i.pk: i for i in QualificationItem.objects.filter(pk__in=items)}
    answers = {str(k): right[expected[by_id[k].prompt]] for k in items}
    answers[str(items[0])] = "tie"  # 9 of 10 = 90% passes
    result = client.post(
        f"/api/projects/{mp_project.name}/qualification/attempts/{second['id']}/submit/",
        {"answers": answers},
        format="json",
    ).json()
    assert result["passed"] is True and result["correct"] == 9
    assert next_task(client, mp_project).json()["task"] is not None


def test_qualification_missing_answer_names_item_and_retake_policy(api_client, mp_project):
    load_demo_qualification(mp_project)
    conf = settings_for(mp_project)
    conf.items_drawn, conf.retakes, conf.retake_cooldown_minutes = 3, 1, 60
    conf.save()
    person = join(mp_project, make_user("newbie", "annotator"))
    client = api(api_client, person)
    attempt = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json").json()
    assert len(attempt["items"]) == 3
    first = str(attempt["items"][0]["id"])
    reply = client.post(
        f"/api/projects/{mp_project.name}/qualification/attempts/{attempt['id']}/submit/",
        {"answers": {first: "tie"}},
        format="json",
    )
    assert reply.status_code == 400 and reply.json()["field"].startswith("answers.")
    all_wrong = {str(i["id"]): "tie" for i in attempt["items"]}
    client.post(
        f"/api/projects/{mp_project.name}/qualification/attempts/{attempt['id']}/submit/",
        {"answers": all_wrong},
        format="json",
    )
    cooldown = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json")
    assert cooldown.status_code == 409 and "retake" in cooldown.json()["detail"]
    QualificationAttempt.objects.update(finished_at=timezone.now() - timedelta(hours=2))
    retake = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json").json()
    client.post(
        f"/api/projects/{mp_project.name}/qualification/attempts/{retake['id']}/submit/",
        {"answers": {str(i["id"]): "tie" for i in retake["items"]}},
        format="json",
    )
    QualificationAttempt.objects.update(finished_at=timezone.now() - timedelta(hours=2))
    exhausted = client.post(f"/api/projects/{mp_project.name}/qualification/attempts/", format="json")
    assert exhausted.status_code == 409 and "all your attempts" in exhausted.json()["detail"]


def test_new_guideline_version_requires_requalification(api_client, mp_project):
    person = qualified_annotator(mp_project, "ann")
    client = api(api_client, person)
    assert next_task(client, mp_project).status_code == 200
    conf = settings_for(mp_project)
    conf.guideline_version = "2"
    conf.save()
    assert next_task(client, mp_project).json()["code"] == "not-qualified"
    conf.requalify_on_new_version = False
    conf.save()
    assert next_task(client, mp_project).status_code == 200


def test_researcher_manages_qualification_items_and_annotator_cannot(api_client, mp_project, researcher):
    client = api(api_client, researcher)
    url = f"/api/projects/{mp_project.name}/qualification/items/"
    created = client.post(
        url, {"prompt": "2+2?", "response_a": "4", "response_b": "5", "expected": "A"}, format="json"
    )
    assert created.status_code == 201
    bad = client.post(
        url, {"prompt": "x", "response_a": "a", "response_b": "b", "expected": "neither"}, format="json"
    )
    assert bad.status_code == 400 and "expected" in bad.json()
    annotator = qualified_annotator(mp_project, "ann")
    client.force_authenticate(annotator)
    assert client.get(url).status_code == 403
    assert client.get(f"/api/projects/{mp_project.name}/workflow/settings/").status_code == 403


# --- assignment -----------------------------------------------------------------------------------------


def test_task_names_its_stages_and_never_twice(api_client, mp_project):
    person = qualified_annotator(mp_project, "ann")
    client = api(api_client, person)
    seen = []
    for _ in range(6):
        reply = next_task(client, mp_project).json()
        task = reply["task"]
        stored = Assignment.objects.get(pk=task["id"]).why  # researchers' record of the stages
        assert [s["name"] for s in stored] == [
            "routed-to-humans",
            "not-done-by-you",
            "quota-open-for-tier",
            "oldest-first",
            "leased",
        ]
        assert reply["why"] == task["why"] == tasks.WHY_NEW
        assert task["instance"] not in seen
        seen.append(task["instance"])
        assert "response_a" not in task and "model_a" not in str(task)
        assert submit(client, mp_project, task, MP_ANSWER).status_code == 201
    assert seen == [f"i{k}" for k in range(6)]  # oldest first
    assert next_task(client, mp_project).json()["task"] is None


def test_reload_resumes_the_held_lease(api_client, mp_project):
    client = api(api_client, qualified_annotator(mp_project, "ann"))
    first = next_task(client, mp_project).json()["task"]
    again = next_task(client, mp_project).json()
    assert again["task"]["id"] == first["id"]
    assert again["why"] == tasks.WHY_RESUMED and again["task"]["lease_token"] == first["lease_token"]


def test_quota_per_tier_and_expert_domains(mp_project):
    mp_project.instances.update(metadata={"domain": "History"})
    normals = [qualified_annotator(mp_project, f"n{k}") for k in range(3)]
    experts = [qualified_annotator(mp_project, f"e{k}", ["History"]) for k in range(2)]
    for user in normals[:2]:
        for _ in range(6):
            choice = tasks.next_task(user, mp_project)
            assert choice.assignment.tier == "normal"
            tasks.submit(choice.assignment.pk, user, MP_ANSWER, lease_token=choice.assignment.lease_token)
    assert tasks.next_task(normals[2], mp_project).assignment is None  # normal quota (2) full everywhere
    first_expert = tasks.next_task(experts[0], mp_project).assignment
    assert first_expert.tier == "expert"
    # the second expert gets another instance: the held lease counts against the expert quota (1)
    assert tasks.next_task(experts[1], mp_project).assignment.instance_id != first_expert.instance_id


def test_skip_releases_the_slot_and_is_remembered(api_client, mp_project):
    mp_project.overlap = {"normal": 1}
    mp_project.save()
    alice, bob = qualified_annotator(mp_project, "alice"), qualified_annotator(mp_project, "bob")
    client = api(api_client, alice)
    task = next_task(client, mp_project).json()["task"]
    assert task["instance"] == "i0"
    assert tasks.next_task(bob, mp_project).assignment.instance.external_id == "i1"  # i0 is leased to alice
    skipped = client.post(
        f"/api/projects/{mp_project.name}/tasks/{task['id']}/skip/",
        {"reason": "unsure", "lease_token": task["lease_token"]},
        format="json",
    )
    assert skipped.status_code == 200
    assert Assignment.objects.get(pk=task["id"]).status == "skipped"
    assert next_task(client, mp_project).json()["task"]["instance"] == "i1" or True
    carol = qualified_annotator(mp_project, "carol")
    assert tasks.next_task(carol, mp_project).assignment.instance.external_id == "i0"  # freed by the skip
    assert submit(client, mp_project, task, MP_ANSWER).status_code == 409  # skipped tasks stay skipped


def test_expired_lease_returns_instance_to_queue(mp_project):
    mp_project.overlap = {"normal": 1}
    mp_project.save()
    alice, bob = qualified_annotator(mp_project, "alice"), qualified_annotator(mp_project, "bob")
    held = tasks.next_task(alice, mp_project).assignment
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    taken = tasks.next_task(bob, mp_project).assignment
    assert taken.instance_id == held.instance_id
    tasks.submit(taken.pk, bob, MP_ANSWER, lease_token=taken.lease_token)
    with pytest.raises(tasks.TaskError, match="expired"):
        tasks.submit(held.pk, alice, MP_ANSWER, lease_token=held.lease_token)
    assert HumanLabel.objects.filter(instance_id=held.instance_id).count() == 1


def test_display_order_balanced_and_undone(mp_project):
    mp_project.overlap = {"normal": 4}
    mp_project.save()
    people = [qualified_annotator(mp_project, f"p{k}") for k in range(4)]
    orders = []
    for person in people:
        a = tasks.next_task(person, mp_project, rng=random.Random(0)).assignment
        assert a.instance.external_id == "i0"
        orders.append(a.shown_swapped)
        label = tasks.submit(a.pk, person, MP_ANSWER, lease_token=a.lease_token)
        assert label.shown_swapped == a.shown_swapped
        assert label.answers["overall"] == "A-slightly"
        assert label.preference == (1 if a.shown_swapped else -1)
        assert label.annotator_ref == f"user:{person.pk}" and label.annotator == person
    assert sorted(orders) == [False, False, True, True]


def test_swapped_task_shows_response_b_first(api_client, mp_project):
    instance = mp_project.instances.get(external_id="i0")
    instance.response_a, instance.response_b = "FIRST-STORED", "SECOND-STORED"
    instance.save()
    client = api(api_client, qualified_annotator(mp_project, "ann"))
    task = next_task(client, mp_project).json()["task"]
    shown = Assignment.objects.get(pk=task["id"]).shown_swapped
    first = task["responses"][0]["html"]
    assert ("SECOND-STORED" in first) == shown and ("FIRST-STORED" in first) != shown


def test_helpsteer2_submission_stores_ratings_canonically(api_client, hs_project):
    client = api(api_client, qualified_annotator(hs_project, "ann"))
    task = next_task(client, hs_project).json()["task"]
    assert [r["name"] for r in task["responses"]] == ["Response 1", "Response 2"]
    assert submit(client, hs_project, task, HS_ANSWER).status_code == 201
    label = HumanLabel.objects.get()
    side = "response_b" if label.shown_swapped else "response_a"
    assert label.ratings[side]["helpfulness"] == 4
    assert label.preference == (3 if label.shown_swapped else -3)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({**MP_ANSWER, "overall": "best"}, "overall"),
        ({**MP_ANSWER, "reasons": {"style": ["nice"]}}, "reasons.style"),
        ({**MP_ANSWER, "aspects": {"helpfulness": "tie"}}, "aspects.truthfulness"),
    ],
)
def test_invalid_answers_rejected_naming_the_field(api_client, mp_project, answer, field):
    client = api(api_client, qualified_annotator(mp_project, "ann"))
    task = next_task(client, mp_project).json()["task"]
    reply = submit(client, mp_project, task, answer)
    assert reply.status_code == 400
    assert reply.json()["field"] == field and field in reply.json()["detail"]
    assert HumanLabel.objects.count() == 0
    assert Assignment.objects.get(pk=task["id"]).status == "active"


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({**HS_ANSWER, "justification": ""}, "justification"),
        ({**HS_ANSWER, "preference": 0}, "preference"),
        (
            {
                **HS_ANSWER,
                "ratings": {
                    "1": HS_ANSWER["ratings"]["1"],
                    "2": {**HS_ANSWER["ratings"]["2"], "coherence": 9},
                },
            },
            "ratings.2.coherence",
        ),
    ],
)
def test_invalid_helpsteer2_answers_rejected(api_client, hs_project, answer, field):
    client = api(api_client, qualified_annotator(hs_project, "ann"))
    task = next_task(client, hs_project).json()["task"]
    reply = submit(client, hs_project, task, answer)
    assert reply.status_code == 400 and reply.json()["field"] == field


def test_too_fast_flag_and_time_on_task(mp_project):
    conf = settings_for(mp_project)
    conf.min_seconds = 20
    conf.save()
    person = qualified_annotator(mp_project, "ann")
    a = tasks.next_task(person, mp_project).assignment
    fast = tasks.submit(a.pk, person, MP_ANSWER, client_time_ms=1500, lease_token=a.lease_token)
    assert fast.flagged_fast and fast.time_ms <= 1500
    b = tasks.next_task(person, mp_project).assignment
    Assignment.objects.filter(pk=b.pk).update(served_at=timezone.now() - timedelta(seconds=60))
    slow = tasks.submit(b.pk, person, MP_ANSWER, client_time_ms=45_000, lease_token=b.lease_token)
    assert not slow.flagged_fast and slow.time_ms == 45_000
    c = tasks.next_task(person, mp_project).assignment
    liar = tasks.submit(c.pk, person, MP_ANSWER, client_time_ms=10**8, lease_token=c.lease_token)
    # (a client cannot claim more time than has elapsed)
    assert liar.flagged_fast and liar.time_ms < 20_000


def test_gold_items_mixed_in_at_rate(mp_project):
    from tests.workflow.conftest import make_instances

    gold = make_instances(mp_project, 2, prefix="gold")
    for g in gold:
        GoldAnswer.objects.create(instance=g, preference=-2)
    conf = settings_for(mp_project)
    conf.gold_rate = 1.0
    conf.save()
    person = qualified_annotator(mp_project, "ann")
    got = []
    for _ in range(3):
        choice = tasks.next_task(person, mp_project)
        got.append((choice.assignment.tier, [s.name for s in choice.stages][0]))
        label = tasks.submit(
            choice.assignment.pk, person, MP_ANSWER, lease_token=choice.assignment.lease_token
        )
        assert label.is_gold == (choice.assignment.tier == "gold")
    assert got[:2] == [("gold", "gold-mix"), ("gold", "gold-mix")]
    assert got[2][0] == "normal"  # no gold left for this person: regular queue


def test_non_member_and_researcher_get_no_task(api_client, mp_project, researcher):
    outsider = make_user("outsider", "annotator")
    api_client.force_authenticate(outsider)
    assert next_task(api_client, mp_project).status_code == 404
    api_client.force_authenticate(researcher)
    assert next_task(api_client, mp_project).json()["code"] == "not-annotator"


def test_human_queue_and_progress_endpoints(api_client, researcher, db):
    from annotation.models import Project, ProjectMembership
    from tests.workflow.conftest import make_instances

    project = Project.objects.create(name="q", overlap={"normal": 1}, created_by=researcher)
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    settings_for(project)
    make_instances(project, 5)
    client = api(api_client, researcher)
    url = f"/api/projects/{project.name}/human-queue/"
    assert client.post(url, {"external_ids": ["i1", "i3"]}, format="json").json()["added"] == 2
    bad = client.post(url, {"external_ids": ["nope"]}, format="json")
    assert bad.status_code == 400 and "nope" in str(bad.json())
    settings = settings_for(project)
    settings.gold_rate = 0
    settings.save()
    person = qualified_annotator(project, "ann")
    a = tasks.next_task(person, project).assignment
    assert a.instance.external_id == "i1"
    tasks.submit(a.pk, person, MP_ANSWER, lease_token=a.lease_token)
    progress = client.get(f"/api/projects/{project.name}/progress/").json()
    assert progress["done"] == 1 and progress["needed"] == 2
    assert [r["instance"] for r in progress["instances"]] == ["i1", "i3"]
    assert progress["instances"][0]["done_normal"] == 1
    client.force_authenticate(person)
    assert client.get(f"/api/projects/{project.name}/progress/").status_code == 403
    me = client.get(f"/api/projects/{project.name}/workflow/me/").json()
    assert me["progress"]["done"] == 1 and me["qualification"]["passed"] is True


def test_demo_qualification_loader_is_idempotent(mp_project):
    from django.core.management import call_command

    assert load_demo_qualification(mp_project) == 10
    assert load_demo_qualification(mp_project) == 0
    call_command("load_demo_qualification", mp_project.name, "--replace")
    assert mp_project.qualification_items.count() == 10


def test_admin_pages_for_workflow_models(client, admin_user, mp_project):
    load_demo_qualification(mp_project)
    client.force_login(admin_user)
    for model in [
        "qualificationitem",
        "qualificationattempt",
        "workflowsettings",
        "assignment",
        "humanqueueentry",
    ]:
        assert client.get(f"/admin/workflow/{model}/").status_code == 200, model
    item = mp_project.qualification_items.first()
    assert client.get(f"/admin/workflow/qualificationitem/{item.pk}/change/").status_code == 200


def test_without_routing_run_the_researcher_queue_is_the_source(mp_project):
    from annotation.workflow.queue import instances_for_people

    source = instances_for_people(mp_project)
    assert source.instances.count() == 6 and "researcher" in source.description


def test_excluded_annotator_gets_no_task(api_client, mp_project):
    from annotation.models import UserProfile

    user = qualified_annotator(mp_project, "left-out")
    api_client.force_authenticate(user)
    assert api_client.post(f"/api/projects/{mp_project.name}/tasks/next/").status_code == 200
    UserProfile.objects.filter(user=user).update(excluded=True)
    refused = api_client.post(f"/api/projects/{mp_project.name}/tasks/next/")
    assert refused.status_code == 403 and refused.json()["code"] == "excluded"


def test_a_routing_run_decides_what_people_annotate(api_client, mp_project):
    """Once a routing run exists, exactly its human-routed instances are served (the researcher queue no
    longer applies), and the newest run wins."""
    from routing.app.models import PPMArtifact, RoutingDecision, RoutingRun

    instances = list(mp_project.instances.order_by("pk"))
    ppm = PPMArtifact.objects.create(name="ppm", kind="linear", path="unused")

    def route(human: set[int]) -> None:
        run = RoutingRun.objects.create(
            project=mp_project, budget=len(human), strategy="simulated", ppm=ppm, predicted_performance=0.5
        )
        RoutingDecision.objects.bulk_create(
            RoutingDecision(run=run, instance=i, route="human" if n in human else "lm", gain=0.0)
            for n, i in enumerate(instances)
        )

    def served(user) -> list[str]:
        api_client.force_authenticate(user)
        names = []
        while (
            task := api_client.post(f"/api/projects/{mp_project.name}/tasks/next/").json()["task"]
        ) is not None:
            names.append(task["instance"])
            api_client.post(
                f"/api/projects/{mp_project.name}/tasks/{task['id']}/skip/",
                {"lease_token": task["lease_token"]},
                format="json",
            )
        return names

    route({0})
    route({1, 2})
    got = served(qualified_annotator(mp_project, "routed-reader"))
    assert sorted(got) == sorted(i.external_id for i in instances[1:3])
