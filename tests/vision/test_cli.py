"""`python -m shequ_vision analyse` on the real clip with a rules file, and its input errors:
exit status 2 with a message an operator can act on, never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shequ_vision.cli import main

RULES = {
    "sample_fps": 1,
    "zones": [
        {"id": "room", "name": "机房", "polygon": [[0.3, 0], [0.9, 0], [0.9, 1], [0.3, 1]]},
        {"id": "left", "name": "左侧", "polygon": [[0, 0], [0.25, 0], [0.25, 1], [0, 1]]},
    ],
    "rules": [
        {"id": "intr", "zone": "room", "kind": "intrusion", "category": "0601"},
        {"id": "left", "zone": "left", "kind": "intrusion"},
    ],
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES, ensure_ascii=False), encoding="utf-8")
    return path


def test_analyse_the_clip_json(one_by_one: Path, rules: Path, tmp_path: Path) -> None:
    # The first person walks into the middle of the room about 7 s into the clip; nobody goes left.
    code, out, err = run(
        "analyse",
        str(one_by_one),
        "--rules",
        str(rules),
        "--json",
        "--max-frames",
        "25",
        "--save",
        str(tmp_path),
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    frames = [r for r in rows if r["type"] == "frame"]
    firings = [r for r in rows if r["type"] == "firing"]
    assert [f["rule"] for f in firings] == ["intr"]
    f = firings[0]
    assert f["label"] == "person" and f["zone_name"] == "机房" and f["category"] == "0601"
    assert 5.0 <= f["t"] <= 10.0 and 0.3 < (f["box"][0] + f["box"][2]) / 2 < 0.9
    assert any(d["label"] == "person" for r in frames for d in r["detections"])
    assert all(r["analysed"] for r in frames) and frames[0]["t"] == 0
    summary = rows[-1]
    assert summary["type"] == "summary" and summary["frames_sampled"] == 25 and summary["firings"] == 1
    assert summary["frames_decoded"] > 240 and 0 < summary["detector_calls"] <= 25
    assert (tmp_path / f"intr-{int(f['t'] * 10):06d}.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_analyse_text_output(one_by_one: Path, rules: Path) -> None:
    code, out, _ = run("analyse", str(one_by_one), "--rules", str(rules), "--max-frames", "12", "--fps", "1")
    assert code == 0
    assert "告警 intr (intrusion) 区域 room 机房" in out and "person" in out
    assert out.splitlines()[-1].startswith("# 共解码")


def test_bad_rules_file_lists_every_field(one_by_one: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"sample_fps": 99, "zones": [], "rules": [{"id": "x", "zone": "nowhere", "kind": "crowd"}]}
        ),
        encoding="utf-8",
    )
    code, out, err = run("analyse", str(one_by_one), "--rules", str(bad))
    assert code == 2 and out == ""
    assert "sample_fps: 不能大于 30" in err and "Traceback" not in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"sample_fps": 1,,}', encoding="utf-8")
    code, _, err = run("analyse", str(one_by_one), "--rules", str(broken))
    assert code == 2 and "不是有效的 JSON" in err and "第 1 行" in err
    code, _, err = run("analyse", str(one_by_one), "--rules", str(tmp_path / "missing.json"))
    assert code == 2 and "规则文件不存在" in err


def test_unknown_zone_is_reported_at_its_field(one_by_one: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"id": "x", "zone": "nowhere", "kind": "crowd"}]}), encoding="utf-8")
    code, _, err = run("analyse", str(one_by_one), "--rules", str(bad))
    assert code == 2 and "rules.0.zone: 区域 nowhere 不存在" in err


def test_unreadable_source_and_bad_detector(one_by_one: Path, tmp_path: Path) -> None:
    code, _, err = run("analyse", str(tmp_path / "nothing.mp4"))
    assert code == 2 and "文件不存在" in err and "Traceback" not in err
    code, _, err = run("analyse", "rtsp://admin:s3cret@127.0.0.1:9/live")
    assert code == 2 and "无法打开视频源" in err and "s3cret" not in err
    code, _, err = run("analyse", str(one_by_one), "--detector", "yolo")
    assert code == 2 and "无法加载检测器" in err
    code, _, err = run("analyse", str(one_by_one), "--fps", "abc")
    assert code == 2 and "invalid float value" in err


def test_schema_and_module_entry_point() -> None:
    code, out, _ = run("schema")
    assert code == 0 and "rules" in json.loads(out)["properties"]
    proc = subprocess.run(
        [sys.executable, "-m", "shequ_vision", "analyse", "/nonexistent.mp4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "文件不存在" in proc.stderr and "Traceback" not in proc.stderr
