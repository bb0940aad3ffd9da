"""The judging app with the database: resumable judge runs, LM labels, tag records, the PandaLM report."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from judging_fakes import FakeBackend, KilledWorker, prefers_text

from annotation.judging.models import LMJudgment, PromptTagRecord
from annotation.judging.services import judge_project, judge_report, tag_project
from annotation.judging.tasks import JUDGE_JOB, run_job
from annotation.models import HumanLabel, Instance, Job, LMLabel, Project
from models.lm.judge import Judge
from models.lm.prompts import get_template

pytestmark = pytest.mark.django_db
CONFIG = {"backend": "openai", "model": "fake-model", "base_url": "http://127.0.0.1:9/v1", "name": "fake"}


def _project(n: int = 10) -> Project:
    project = Project.objects.create(name="judged")
    for i in range(n):
        good_first = i % 2 == 0
        inst = Instance.objects.create(
            project=project,
            external_id=f"i{i}",
            prompt=f"question {i}",
            response_a="GOOD answer" if good_first else "bad answer",
            response_b="bad answer" if good_first else "GOOD answer",
            metadata={"category": "even" if good_first else "odd"},
        )
        for k, pref in enumerate([-1 if good_first else 1] * 2 + [0]):
            HumanLabel.objects.create(
                instance=inst, annotator_ref=f"h{k}", preference=pref, source="imported"
            )
    return project


def _judge(backend: FakeBackend) -> Judge:
    return Judge(backend, get_template("multipref-overall"))


def test_killed_and_restarted_run_finishes_only_the_rest() -> None:
    project = _project(10)
    dying = FakeBackend(prefers_text("GOOD"), die_after=8)  # batch size 4 = 8 orders: dies in the 2nd batch
    with pytest.raises(KilledWorker):
        judge_project(project, CONFIG, batch_size=4, judge=_judge(dying))
    assert LMJudgment.objects.count() == 8 and LMLabel.objects.count() == 4  # the first batch is kept whole

    fresh = FakeBackend(prefers_text("GOOD"))
    summary = judge_project(project, CONFIG, batch_size=4, judge=_judge(fresh))
    assert fresh.asked == 12  # only the 6 remaining items, both orders; nothing re-paid
    assert summary.orders_skipped == 8 and summary.orders_stored == 12 and summary.items_labelled == 10
    assert LMJudgment.objects.count() == 20
    assert LMLabel.objects.filter(judge="fake").count() == 10

    again = FakeBackend(prefers_text("GOOD"))
    judge_project(project, CONFIG, batch_size=4, judge=_judge(again))
    assert again.asked == 0 and LMJudgment.objects.count() == 20  # idempotent


def test_labels_and_records_hold_everything_needed_to_audit() -> None:
    project = _project(4)
    judge_project(project, CONFIG, judge=_judge(FakeBackend(prefers_text("GOOD"))))
    label = LMLabel.objects.get(instance__external_id="i1", judge="fake")
    assert label.preference == 2 and label.consistent is True and label.source == "platform"
    assert label.prompt_version == "multipref-overall@1"
    assert set(label.details["orders"]) == {"AB", "BA"}
    assert {o["raw_output"] for o in label.details["orders"].values()} == {"1", "5"}
    row = LMJudgment.objects.get(instance__external_id="i1", order="BA")
    assert row.verdict == 2 and row.raw_output == "1" and row.decoding["temperature"] == 0.0
    assert row.model == "fake-model" and row.prompt_tokens == 100 and row.seconds > 0


def test_backend_failures_are_not_stored_and_unparsed_outputs_are() -> None:
    project = _project(2)
    from models.lm.base import Generation

    class Flaky(FakeBackend):
        def generate(self, prompts, settings):
            out = super().generate(prompts, settings)
            out[0] = Generation(text=None, error="timeout after 1s")
            out[1] = Generation(text="I think A")
            return out

    summary = judge_project(project, CONFIG, judge=_judge(Flaky("3")))
    assert summary.backend_failures == 1 and summary.unparsed == 1
    assert LMJudgment.objects.count() == 3  # the timed-out order is retried by the next run
    assert LMJudgment.objects.get(raw_output="I think A").verdict is None
    assert LMLabel.objects.count() == 1  # only the instance with both orders parsed
    retry = FakeBackend("3")
    judge_project(project, CONFIG, judge=_judge(retry))
    assert retry.asked == 1


def test_report_agreement_and_consistency_per_category() -> None:
    project = _project(6)
    judge_project(project, CONFIG, judge=_judge(FakeBackend("1")))  # position-biased: all inconsistent ties
    [report] = judge_report(project, judge="fake")
    assert report["agreement"] == 0.0 and report["consistency"] == 0.0 and report["non_tie_items"] == 6
    assert report["per_category"]["even"]["non_tie_items"] == 3
    assert report["cost"]["judgments"] == 12


def test_judge_job_through_the_task_body(monkeypatch) -> None:
    project = _project(3)
    import annotation.judging.services as services

    monkeypatch.setattr(services, "make_judge", lambda config: _judge(FakeBackend(prefers_text("GOOD"))))
    job = Job.objects.create(kind=JUDGE_JOB, project=project, params={"config": CONFIG, "batch_size": 2})
    result = run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and result["items_labelled"] == 3 and job.progress["done"] == 3


def test_tag_prompts_records(monkeypatch) -> None:
    project = _project(3)
    import annotation.judging.services as services

    answers = {
        "expertise_level": '{"expertise_level": "Expert domain knowledge"}',
        "subject_of_expertise": '["Journalism, media studies and communication"]',
        "expert_domain": '["Natural sciences"]',
    }
    first = project.instances.order_by("id").first()
    first.metadata = {"domain": "History"}  # from the dataset: kept
    first.save()

    def answer(messages):
        for dim, text in answers.items():
            if f'{{"{dim}"' in messages[-1]["content"]:
                return text
        return "no idea"

    fake = FakeBackend(answer)
    monkeypatch.setattr(services, "make_backend", lambda config: fake)
    result = tag_project(project, {"backend": "local"})
    assert result["tagged"] == 3 and fake.asked == 3 * 9
    record = PromptTagRecord.objects.filter(instance__project=project).first()
    assert record.model == "SmolLM2-135M-Instruct" and record.prompt_version == "prompt-tags@1"
    assert record.answers["expertise_level"] == ["expert domain knowledge"]
    assert record.answers["subject_of_expertise"] == ["Journalism", "Media studies and communication"]
    assert record.answers["safety_concern"] == "unknown" and record.raw["safety_concern"] == "no idea"
    assert tag_project(project, {"backend": "local"})["tagged"] == 0  # resumable
    domains = [i.metadata.get("domain") for i in project.instances.order_by("id")]
    assert domains == ["History", "Natural sciences", "Natural sciences"]


def test_pandalm_gpt35_agreement(pandalm_path) -> None:
    call_command("import_instances", "pandalm", str(pandalm_path), verbosity=0)
    [report] = judge_report(Project.objects.get(name="pandalm"), judge="gpt-3.5-turbo")
    assert report["non_tie_items"] == 894
    assert round(report["agreement"], 3) == 0.774


def test_default_prompt_follows_the_scheme_and_tasks_use_the_judge_queue() -> None:
    from annotation.core.schemes import default_scheme_config
    from annotation.judging.services import with_default_prompt
    from annotation.judging.tasks import judge_project_task, tag_prompts_task

    project = Project.objects.create(name="hs2", scheme=default_scheme_config("helpsteer2"))
    assert with_default_prompt(project, {"backend": "local"})["prompt"] == "helpsteer2-ratings"
    assert with_default_prompt(project, {"prompt": "alpacaeval-pairwise"})["prompt"] == "alpacaeval-pairwise"
    from platform.celery_app import app

    for task in (judge_project_task, tag_prompts_task):
        assert app.amqp.router.route({}, task.name)["queue"].name == "judge"
