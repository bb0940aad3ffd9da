"""Each kind of work goes to its queue (a worker on a CPU box and one on a GPU box consume different ones)."""

from platform.celery_app import app


def queue_of(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name)
    return route["queue"].name


def test_tasks_are_routed_to_their_queues():
    app.loader.import_default_modules()
    assert queue_of("annotation.tasks.import_instances_task") == "default"
    assert queue_of("annotation.datasets.tasks.export_dataset_task") == "default"
    assert queue_of("routing.app.tasks.compute_tags_task") == "tags"
    assert queue_of("annotation.judging.tasks.judge_project_task") == "judge"
    assert {q.name for q in app.conf.task_queues} == {"default", "tags", "judge", "gpu"}
