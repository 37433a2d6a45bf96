"""The standard parts for scale, on the real servers: Celery on Redis and on RabbitMQ, and the Redis cache.

A real `shequ worker` (SHEQU_TASKS_BACKEND=celery) takes the tasks that another Shequ process, a web
host in a deployment, enqueues through django.tasks; both share a file SQLite database and media
folder, as the hosts of a deployment share PostgreSQL and object storage. (The suite's own test
database lives inside pytest's process, where no worker can see it.)

Redis DB 7 is this module's alone: flushed before and after. Where Redis or RabbitMQ cannot be
reached the tests skip, except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.core.processes import REPO, alive, children_of, shequ

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/7"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"

# A web host's part: start an import job (one new organization, SOURCE_ID) and enqueue a task, then
# wait until a worker has done both.
ENQUEUE_AND_WAIT = """
import json, time
from django.core.files.base import ContentFile
from shequ.core.jobs import start_job
from shequ.core.models import Job
from shequ.registry.handlers import place_in_grids_task

sheet = ContentFile("名称,来源编号\\n兰州新区第一小学,SOURCE_ID\\n".encode(), name="orgs.csv")
job = start_job("registry.import", actor=None, params={"kind": "organizations"}, input_file=sheet)
result = place_in_grids_task.enqueue()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    result.refresh()
    job.refresh_from_db()
    if result.is_finished and job.status in (Job.Status.SUCCEEDED, Job.Status.FAILED):
        break
    time.sleep(0.1)
print(json.dumps({
    "status": result.status, "id": result.id, "worker_ids": result.worker_ids,
    "value": result.return_value if result.is_finished else None,
    "job": job.status, "report": job.report,
}))
"""


def _missing(what: str, fix: str) -> None:
    message = f"{what} is missing: {fix}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        _missing("the redis package", "pip install -e '.[test]'")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _missing(f"Redis at {REDIS_URL} ({exc})", "apt-get install redis-server")
    return client


def _rabbitmq() -> None:
    try:
        from kombu import Connection
    except ImportError:
        _missing("the kombu package", "pip install -e '.[test]'")
    try:
        with Connection(RABBITMQ_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        _missing(f"RabbitMQ at {RABBITMQ_URL} ({exc})", "apt-get install rabbitmq-server")


@pytest.fixture(scope="module")
def redis_db() -> Iterator[Any]:
    client = _redis()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment shared by the worker and the web host: a migrated SQLite file, Celery tasks."""
    if importlib.util.find_spec("django_tasks_celery") is None:
        _missing("django-tasks-celery", "pip install -e '.[test]'")
    var = tmp_path_factory.mktemp("tasks-var")
    environ = {key: value for key, value in os.environ.items() if not key.startswith("SHEQU_")}
    environ |= {
        "SHEQU_VAR_DIR": str(var),
        "SHEQU_DATABASE_URL": f"sqlite:///{var / 'shequ.sqlite3'}",
        "SHEQU_TASKS_BACKEND": "celery",
        "SHEQU_PROFILE": "dev",
        "PYTHONUNBUFFERED": "1",
    }
    shequ(environ, "migrate", "--no-input", "-v0")
    return environ


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_worker_runs_what_another_process_enqueues(site, redis_db, broker):
    if broker == "rabbitmq":
        _rabbitmq()
    # Next to RabbitMQ the results go to Redis, as docs/configuration.md says to do.
    environ = {
        **site,
        "SHEQU_BROKER_URL": REDIS_URL if broker == "redis" else RABBITMQ_URL,
        "SHEQU_RESULT_BACKEND_URL": REDIS_URL,
    }
    log = Path(site["SHEQU_VAR_DIR"]) / f"worker-{broker}.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "shequ", "worker", "--concurrency", "1"],
            env=environ,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        done = shequ(environ, "shell", "-c", ENQUEUE_AND_WAIT.replace("SOURCE_ID", f"school-{broker}"))
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["status"] == "SUCCESSFUL", log.read_text()
        # Run by this worker (its node name has its pid), and its return value came back through Redis.
        assert seen["worker_ids"] == [f"shequ-{worker.pid}@{socket.gethostname()}"]
        assert seen["value"] == {"building": 0, "organization": 0, "asset": 0, "household": 0, "person": 0}
        # The import job ran in the worker too: it read the upload and wrote the register.
        assert seen["job"] == "succeeded", json.dumps(seen["report"], ensure_ascii=False)
        assert seen["report"]["created"] == 1
        assert "shequ.core.tasks.run_job" in log.read_text()

        pool = children_of(worker.pid)
        assert pool, "a prefork worker has its pool process"
        worker.send_signal(signal.SIGTERM)  # warm shutdown: finish what runs, then stop
        assert worker.wait(timeout=15) == 0, log.read_text()
        assert not any(alive(pid) for pid in pool), "a pool process outlived the worker"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_the_redis_cache_is_shared_between_processes(site, redis_db):
    from django.core.cache.backends.redis import RedisCache

    here = RedisCache(REDIS_URL, {})
    token = uuid.uuid4().hex
    here.set("handover", token, 60)
    script = (
        "from django.core.cache import caches; cache = caches['default']; "
        "print(type(cache).__name__, cache.get('handover')); "
        "cache.set('reply', 'ok-' + cache.get('handover'), 60)"
    )
    done = shequ({**site, "SHEQU_CACHE_URL": REDIS_URL}, "shell", "-c", script)
    assert done.stdout.split()[-2:] == ["RedisCache", token]
    assert here.get("reply") == f"ok-{token}"


def test_celery_settings_pass_the_checks(site):
    # A result backend and extended results: without them django-tasks-celery warns that get_result
    # cannot work (W001, W002). Checking connects to nothing.
    done = shequ({**site, "SHEQU_BROKER_URL": RABBITMQ_URL, "SHEQU_RESULT_BACKEND_URL": REDIS_URL}, "check")
    assert "System check identified no issues" in done.stdout


def test_a_bad_broker_url_fails_fast(site):
    done = subprocess.run(
        [sys.executable, "-m", "shequ", "check"],
        env={**site, "SHEQU_BROKER_URL": "kafka://127.0.0.1:9092"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "SHEQU_BROKER_URL must be a redis:// or amqp:// URL" in done.stderr


def test_worker_refuses_what_it_cannot_run(settings):
    with pytest.raises(CommandError, match="未知的队列: reports"):
        call_command("worker", "--queues", "default,reports")
    settings.TASKS_BACKEND = "immediate"
    with pytest.raises(CommandError, match="不需要 worker"):
        call_command("worker")
