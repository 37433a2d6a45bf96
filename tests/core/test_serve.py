"""`shequ serve` as an operator runs it: a real server process and its task worker, stopped cleanly."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.core.processes import REPO, alive, children_of, free_port, shequ

pytestmark = pytest.mark.slow

# Enqueue run_job for a job that does not exist (it just returns) and wait for the worker to run it.
ENQUEUE_AND_WAIT = """
import time
from django.tasks import TaskResultStatus
from shequ.core.tasks import run_job
result = run_job.enqueue(987654321)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    result.refresh()
    if result.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED):
        break
    time.sleep(0.2)
print("STATUS", result.status)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh var dir with a migrated SQLite database, whatever database the suite itself uses."""
    var = tmp_path_factory.mktemp("serve-var")
    environ = {
        **os.environ,
        "SHEQU_VAR_DIR": str(var),
        "SHEQU_DATABASE_URL": f"sqlite:///{var / 'shequ.sqlite3'}",
        "SHEQU_TASKS_BACKEND": "db",
        "SHEQU_PROFILE": "dev",
        "PYTHONUNBUFFERED": "1",
    }
    shequ(environ, "migrate", "--no-input", "-v0")
    return environ


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test server
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@contextlib.contextmanager
def serving(environ: dict[str, str]) -> Iterator[dict[str, Any]]:
    """`shequ serve` on a free port, in its own process group, answering; killed if a test leaves it."""
    port = free_port()
    log = Path(environ["SHEQU_VAR_DIR"]) / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "shequ", "serve", "--port", str(port)],
            env=environ,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if get(f"http://127.0.0.1:{port}/login/") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("serve did not answer within 60 s:\n" + log.read_text())
        yield {"process": process, "port": port, "log": log}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[dict[str, Any]]:
    with serving(env) as running:
        yield running


def stops_with_its_worker(process: subprocess.Popen[bytes], worker: int, send: Any) -> None:
    send()
    process.wait(timeout=15)
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker), "the task worker outlived serve"


def test_serve_answers_runs_tasks_and_stops_both_processes_on_sigterm(env, server):
    process, port = server["process"], server["port"]
    assert "Shequ 已启动: http://127.0.0.1:" in server["log"].read_text()
    assert get(f"http://127.0.0.1:{port}/api/accounts/me/") == 403  # the API is up, and closed
    workers = children_of(process.pid)
    assert len(workers) == 1, workers
    done = shequ(env, "shell", "-c", ENQUEUE_AND_WAIT, timeout=60)
    assert "STATUS SUCCESSFUL" in done.stdout, done.stdout + done.stderr
    stops_with_its_worker(process, workers[0], lambda: process.send_signal(signal.SIGTERM))
    assert process.returncode == 0, server["log"].read_text()
    assert "Shequ 已停止" in server["log"].read_text()


def test_ctrl_c_stops_server_and_worker(env, server):
    process = server["process"]
    workers = children_of(process.pid)
    assert len(workers) == 1
    # Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    stops_with_its_worker(process, workers[0], lambda: os.killpg(process.pid, signal.SIGINT))


def test_a_crashed_worker_is_restarted(env, server):
    process = server["process"]
    (worker,) = children_of(process.pid)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        replacement = [pid for pid in children_of(process.pid) if pid != worker and alive(pid)]
        if replacement:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the worker was not restarted:\n" + server["log"].read_text())
    assert "任务进程意外退出" in server["log"].read_text()
    stops_with_its_worker(process, replacement[0], lambda: process.send_signal(signal.SIGTERM))


def test_serve_refuses_a_taken_port(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "shequ", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0 and f"无法监听 127.0.0.1:{port}" in done.stderr


def test_serve_starts_no_worker_with_the_celery_backend(env):
    # Workers then run apart (`shequ worker`, on any host); serve says so. No broker is needed to serve.
    if importlib.util.find_spec("django_tasks_celery") is None and not os.environ.get("CI"):
        pytest.skip("django-tasks-celery is missing: pip install -e '.[test]'")
    with serving({**env, "SHEQU_TASKS_BACKEND": "celery"}) as running:
        process = running["process"]
        assert children_of(process.pid) == []
        assert "请在本机或其他主机运行 `shequ worker`" in running["log"].read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, running["log"].read_text()
