"""`shequ drone ...`: plan a grid's route into a `.plan` file, read a real `.plan` back, hand the
other subcommands on, and answer bad arguments with status 2 and a message, never a traceback."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pymavlink import mavwp

from shequ.drones.management.commands.drone import SUBCOMMANDS, main
from shequ_vision.missionfile import from_plan
from tests.conftest import SHARED_MEDIA
from tests.drones.conftest import _need

REPO = Path(__file__).resolve().parents[2]
SQUARE_PLAN = SHARED_MEDIA / "simple_square.plan"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def shequ(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own."""
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "shequ", "drone", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db
def test_plan_writes_a_plan_and_a_waypoints_file(grids: dict[str, Any], drone: Any, tmp_path: Path) -> None:
    out_plan, out_wp = tmp_path / "grid1.plan", tmp_path / "grid1.waypoints"
    code, out, err = run(
        "plan",
        "--grid",
        grids["grid1"].code,
        "--altitude",
        "80",
        "--overlap",
        "75",
        "--side-overlap",
        "0.6",
        "--drone",
        drone.code,
        "--out",
        str(out_plan),
        "--waypoints",
        str(out_wp),
    )
    assert code == 0, err
    assert "航线条数" in out and "照片" in out and "网格覆盖 100.0%" in out and str(out_plan) in out
    plan = from_plan(out_plan.read_bytes())
    assert len(plan.waypoints) >= 4 and {p[2] for p in plan.waypoints} == {80.0}
    # FC350 at 80 m: 100.8 m along the track, 25 % of it between photos.
    assert plan.photo_spacing_m == pytest.approx(4.55 * 80 / 3.61 * 0.25)
    loader = mavwp.MAVWPLoader()
    assert loader.load(str(out_wp)) == len(plan.items) + 1  # + home


@pytest.mark.django_db
def test_plan_prints_json_and_takes_a_camera(grids: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "both.plan"
    code, out, err = run(
        "plan",
        "--grid",
        grids["grid1"].code,
        "--grid",
        grids["grid2"].code,
        "--altitude",
        "100",
        "--overlap",
        "0.7",
        "--pattern",
        "perimeter",
        "--sensor",
        "17.3x13",
        "--focal",
        "12.29",
        "--image",
        "5280x3956",
        "--out",
        str(target),
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["out"] == str(target) and summary["photo_count"] > 0 and 0 < summary["coverage"] <= 1
    assert target.is_file()


@pytest.mark.django_db
def test_plan_refusals_name_the_option(grids: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "x.plan"
    base = ("plan", "--grid", grids["grid1"].code, "--out", str(target))
    code, _, err = run(*base, "--altitude", "200")
    assert code == 2 and "--altitude" in err and "120" in err
    code, _, err = run(*base, "--altitude", "80", "--overlap", "0.99")
    assert code == 2 and "--overlap" in err
    code, _, err = run("plan", "--grid", "NOPE", "--altitude", "80", "--out", str(target))
    assert code == 2 and "NOPE" in err
    code, _, err = run(*base, "--altitude", "80", "--drone", "UAV-404")
    assert code == 2 and "--drone" in err
    code, _, err = run(*base, "--altitude", "80", "--sensor", "17x13")
    assert code == 2 and "--focal" in err
    assert not target.exists()


@pytest.mark.django_db
def test_plan_through_django_call_command(grids: dict[str, Any], tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "g.plan"
    call_command(
        "drone", "plan", "--grid", grids["grid2"].code, "--altitude", "60", "--out", str(target), stdout=out
    )
    assert "已写出" in out.getvalue() and target.is_file()


def test_import_prints_the_waypoints_of_a_real_plan() -> None:
    _need(SQUARE_PLAN)
    code, out, err = run("plan", "--import", str(SQUARE_PLAN))
    assert code == 0, err
    assert "4 个航点" in out and "47.3987420, 8.5465940, 20" in out
    code, out, _ = run("plan", "--import", str(SQUARE_PLAN), "--json")
    body = json.loads(out)
    assert body["waypoints"][0] == {"lat": 47.398742, "lon": 8.546594, "alt": 20.0}
    assert body["home"] == {"lon": 8.545594, "lat": 47.397742, "alt_msl": 488.0}


def test_import_reads_a_waypoints_file_too(tmp_path: Path) -> None:
    path = tmp_path / "square.waypoints"
    path.write_text(
        "QGC WPL 110\n"
        "0\t1\t0\t16\t0\t0\t0\t0\t36.505\t103.69\t1820\t1\n"
        "1\t0\t3\t16\t0\t0\t0\t0\t36.506\t103.691\t60\t1\n"
        "2\t0\t3\t16\t0\t0\t0\t0\t36.507\t103.692\t70\t1\n"
    )
    code, out, _ = run("plan", "--import", str(path), "--json")
    assert code == 0
    assert [w["alt"] for w in json.loads(out)["waypoints"]] == [60.0, 70.0]


def test_bad_files_and_arguments_are_clear(tmp_path: Path) -> None:
    junk = tmp_path / "junk.plan"
    junk.write_bytes(b"\x00\x01binary")
    code, _, err = run("plan", "--import", str(junk))
    assert code == 1 and "junk.plan" in err
    code, _, err = run("plan", "--import", str(tmp_path / "missing.plan"))
    assert code == 2 and "无法读取" in err
    code, _, err = run("plan", "--altitude", "80")
    assert code == 2 and "--grid" in err and "--out" in err
    code, _, err = run("plan", "--import", str(junk), "--grid", "X")
    assert code == 2 and "--import" in err
    code, _, err = run("fly")
    assert code == 2 and "未知的子命令" in err and "plan" in err
    code, _, err = run()
    assert code == 2 and "用法" in err


def test_the_real_command_line_exits_2_without_a_traceback(tmp_path: Path) -> None:
    bad = shequ("plan", "--altitude", "high", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--altitude" in bad.stderr
    _need(SQUARE_PLAN)
    good = shequ("plan", "--import", str(SQUARE_PLAN), "--json", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert len(json.loads(good.stdout)["waypoints"]) == 4


def test_every_subcommand_is_handed_on() -> None:
    for name, (module, function, _) in SUBCOMMANDS.items():
        assert callable(getattr(importlib.import_module(module), function)), name


def test_photo_goes_to_the_engine() -> None:
    photo = _need(SHARED_MEDIA / "DJI_0061.JPG")
    assert photo
    code, out, err = run("photo", str(SHARED_MEDIA / "DJI_0061.JPG"), "--json", "--detector", "none")
    assert code == 0, err
    assert "41.54" in out  # the photo's latitude, as the engine prints it
