"""The camera side's command line, as an operator runs it: `shequ vision analyse` on the real clip,
`shequ vision-worker --shard i/n` as a process of its own, and `shequ serve` with the embedded
vision engine and MQTT consumer (stopped cleanly by SIGTERM)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from django.core.management import CommandError, call_command
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.core.processes import REPO, free_port, shequ
from tests.vision.conftest import one_by_one  # noqa: F401

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
RULES = {
    "sample_fps": 2,
    "zones": [{"id": "room", "name": "机房", "polygon": WHOLE}],
    "rules": [{"id": "night", "kind": "intrusion", "zone": "room", "min_score": 0.5}],
}


def test_vision_analyse_runs_the_engine_on_the_real_clip(one_by_one: Path, tmp_path: Path) -> None:  # noqa: F811
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    call_command(
        "vision",
        "analyse",
        str(one_by_one),
        "--rules",
        str(rules),
        "--json",
        "--max-frames",
        "24",
        stdout=out,
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    frames = [r for r in rows if r["type"] == "frame"]
    firings = [r for r in rows if r["type"] == "firing"]
    summary = rows[-1]
    assert summary["type"] == "summary" and summary["frames_sampled"] == 24
    people = [f for f in frames if any(d["label"] == "person" and d["score"] >= 0.5 for d in f["detections"])]
    assert people and people[0]["t"] >= 6.0  # the first person walks in about 7 s into the clip
    assert len(firings) == 1  # one person, one alert
    assert (firings[0]["rule"], firings[0]["zone"], firings[0]["label"]) == ("night", "room", "person")
    assert firings[0]["t"] == pytest.approx(people[0]["t"], abs=1.0)


def test_vision_analyse_reports_bad_rules(one_by_one: Path, tmp_path: Path) -> None:  # noqa: F811
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps({"rules": [{"id": "x", "kind": "crowd", "zone": "nowhere"}]}), encoding="utf-8"
    )
    err = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("vision", "analyse", str(one_by_one), "--rules", str(rules), stderr=err)
    assert refused.value.returncode == 2
    assert "rules.0.zone" in err.getvalue() and "nowhere" in err.getvalue()


# --- real processes -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh var dir with a migrated SQLite database, whatever database the suite itself uses."""
    var = tmp_path_factory.mktemp("vision-var")
    environ = {
        **os.environ,
        "SHEQU_VAR_DIR": str(var),
        "SHEQU_DATABASE_URL": f"sqlite:///{var / 'shequ.sqlite3'}",
        "SHEQU_TASKS_BACKEND": "db",
        "SHEQU_PROFILE": "dev",
        "SHEQU_MQTT_URL": "",
        "SHEQU_VISION": "off",
        "PYTHONUNBUFFERED": "1",
    }
    shequ(environ, "migrate", "--no-input", "-v0")
    return environ


REGISTER = """
import json, os
from shequ.video.models import Camera
from shequ.video.services import register_camera
for code, stream in json.loads(os.environ["CAMERAS"]):
    camera = register_camera(
        actor="test", code=code, name=code, lon=103.6, lat=36.5, main_stream=stream, watched=True
    )
    print("CAMERA", code, camera.pk)
"""


def register(environ: dict[str, str], cameras: list[tuple[str, str]]) -> dict[str, int]:
    done = shequ({**environ, "CAMERAS": json.dumps(cameras)}, "shell", "-c", REGISTER)
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("CAMERA ")]
    return {code: int(pk) for _, code, pk in rows}


def db_rows(environ: dict[str, str], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    path = environ["SHEQU_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=20) as db:
        return db.execute(sql, params).fetchall()


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f":\n{log.read_text()[-3000:]}" if log else ""))
        time.sleep(0.3)


def start(environ: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "shequ", *args],
            env=environ,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], log: Path) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail("did not stop on SIGTERM:\n" + log.read_text()[-3000:])
    assert process.returncode == 0, log.read_text()[-3000:]
    return log.read_text()


@pytest.mark.slow
def test_vision_worker_watches_its_shard_until_sigterm(env: dict[str, str], one_by_one: Path) -> None:  # noqa: F811
    pks = register(env, [("W-A", one_by_one.as_uri()), ("W-B", one_by_one.as_uri())])
    even = next(code for code, pk in pks.items() if pk % 2 == 0)
    odd = next(code for code, pk in pks.items() if pk % 2 == 1)
    log = Path(env["SHEQU_VAR_DIR"]) / "vision-worker.log"
    process = start(
        env, log, "vision-worker", "--shard", "0/2", "--reload-seconds", "1", "--flush-seconds", "1"
    )
    try:
        status = "SELECT status, metrics FROM video_camera WHERE code = ?"
        wait_for(lambda: db_rows(env, status, even)[0][0] == "online", 60, f"{even} online", log)
        wait_for(
            lambda: json.loads(db_rows(env, status, even)[0][1] or "{}").get("frames_decoded"),
            30,
            "metrics",
            log,
        )
        assert db_rows(env, status, odd)[0][0] == "unknown"  # another shard's camera
    finally:
        output = stop(process, log)
    assert "视频分析分片 0/2 已启动" in output and "视频分析分片 0/2 已停止" in output
    metrics = json.loads(db_rows(env, "SELECT metrics FROM video_camera WHERE code = ?", even)[0][0])
    assert metrics["shard"] == "0/2" and metrics["frames_decoded"] > 0


def test_vision_worker_refuses_a_bad_shard() -> None:
    for bad in ("2/2", "x"):
        with pytest.raises(CommandError, match="分片"):
            call_command("vision_worker", "--shard", bad)


def test_hyphenated_command_names_reach_the_commands(env: dict[str, str], one_by_one: Path) -> None:  # noqa: F811
    done = subprocess.run(
        [sys.executable, "-m", "shequ", "vision-worker", "--shard", "3/2"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1 and "分片" in done.stderr
    help_text = shequ(env, "mqtt-consumer", "--help").stdout
    assert "MQTT" in help_text
    # From the shell, every option after `vision` is the engine's (Django's -v/--settings are not).
    rows = shequ(env, "vision", "analyse", str(one_by_one), "--json", "--max-frames", "2").stdout.splitlines()
    summary = json.loads(rows[-1])
    assert summary["type"] == "summary" and summary["frames_sampled"] == 2


@pytest.mark.slow
def test_serve_runs_the_embedded_engine_and_mqtt_consumer(env: dict[str, str], one_by_one: Path) -> None:  # noqa: F811
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"MQTT broker unreachable: {exc}")
        pytest.skip(f"MQTT broker at 127.0.0.1:1883 unreachable ({exc})")
    prefix = f"shequ-test-{uuid.uuid4().hex[:10]}"
    environ = {
        **env,
        "SHEQU_VISION": "embedded",
        "SHEQU_MQTT_URL": "mqtt://127.0.0.1:1883",
        "SHEQU_MQTT_TOPICS": f"{prefix}/cameras/+/events",
        "SHEQU_MQTT_SHARED_GROUP": prefix,
    }
    register(environ, [("SERVE-1", one_by_one.as_uri())])
    log = Path(env["SHEQU_VAR_DIR"]) / "serve.log"
    process = start(environ, log, "serve", "--port", str(free_port()), "--no-worker")
    try:
        wait_for(lambda: "MQTT 已连接" in log.read_text(), 60, "the MQTT consumer", log)
        status = "SELECT status FROM video_camera WHERE code = 'SERVE-1'"
        wait_for(lambda: db_rows(environ, status)[0][0] == "online", 60, "the camera online", log)
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        client.connect("127.0.0.1", 1883)
        client.loop_start()
        when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
        body = {"event_id": "serve-1", "kind": "crowd", "detected_at": when}
        client.publish(f"{prefix}/cameras/SERVE-1/events", json.dumps(body), qos=1).wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        alerts = "SELECT origin, kind FROM video_alert WHERE source_id = 'SERVE-1:serve-1'"
        assert wait_for(lambda: db_rows(environ, alerts), 30, "the MQTT alert", log) == [("mqtt", "crowd")]
    finally:
        output = stop(process, log)
    assert "视频分析已启动" in output and "MQTT 告警消费已启动" in output and "Shequ 已停止" in output
