"""The worker command other tools rely on (`celery -A config worker`) serves restarts."""

from config.celery import app


def test_a_worker_started_without_queues_consumes_the_restarts_queue():
    # What `celery worker` consumes when no -Q is given: every queue in task_queues.
    assert {"celery", "restarts"} <= set(app.amqp.queues)


def test_restart_tasks_are_routed_to_the_restarts_queue():
    route = app.amqp.router.route({}, "restarts.send_resets")
    assert route["queue"].name == "restarts"
