"""`python -m shequ_vision analyse SOURCE [--rules rules.json] [--json]`: try rules on a clip.

An operator records a clip (or points at a live stream), writes the camera's rules file (the same
JSON as the camera page's settings, see docs/vision.md), and sees per analysed frame what the
detector found and which rules fired, before turning the rules on for the camera. `shequ vision
analyse` (the Django command) delegates here.

Exit status: 0 done, 2 bad input (arguments, rules file, unreadable source, detector missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .config import CameraAnalytics, ConfigError, analytics_schema, parse_analytics
from .detect import Detection, load_detector
from .frames import SourceError, mask_url, open_source

EXIT_INPUT = 2


class InputError(Exception):
    """Bad input from the command line; the message is for the operator (no traceback)."""


def _box(box: Sequence[float]) -> list[float]:
    return [round(float(v), 4) for v in box]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shequ_vision", description="社区视频分析引擎")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyse", aliases=["analyze"], help="在视频文件或视频流上运行分析规则")
    a.add_argument("source", help="视频文件、rtsp:// / http(s):// 视频流或快照地址")
    a.add_argument("--rules", type=Path, help="规则文件 (JSON, 与摄像头分析设置同一格式)")
    a.add_argument("--json", action="store_true", help="每行输出一个 JSON 对象")
    a.add_argument("--fps", type=float, help="采样帧率 (覆盖规则文件中的 sample_fps)")
    a.add_argument("--detector", help="ssd (默认) 或 onnx:/path/model.onnx (覆盖规则文件)")
    a.add_argument("--max-frames", type=int, help="最多处理的采样帧数")
    a.add_argument("--start", help="录像开始的本地时间, 如 2026-11-27T22:00 (用于时段规则)")
    a.add_argument("--all-frames", action="store_true", help="也输出未运行检测的帧")
    a.add_argument("--save", type=Path, help="把告警截图和短视频存入此目录")
    sub.add_parser("schema", help="输出规则文件的 JSON Schema")
    return parser


def _load_rules(path: Path | None, fps: float | None) -> CameraAnalytics:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"规则文件不存在: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"无法读取规则文件 {path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"规则文件不是有效的 JSON ({path} 第 {exc.lineno} 行第 {exc.colno} 列): {exc.msg}"
            ) from None
    if fps is not None:
        if not isinstance(data, dict):
            data = {}
        data = {**data, "sample_fps": fps}
    try:
        return parse_analytics(data)
    except ConfigError as exc:
        lines = "\n".join(f"  {e['field'] or '(根)'}: {e['message']}" for e in exc.errors)
        raise InputError(f"规则文件有误 ({path or '--fps'}):\n{lines}") from None


def _detection(d: Detection) -> dict[str, Any]:
    return {"label": d.label, "score": round(d.score, 3), "box": _box(d.box)}


def analyse(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .pipeline import Pipeline

    analytics = _load_rules(args.rules, args.fps)
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames 应为正整数")
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise InputError(f"--start 时间格式不对: {args.start} (例: 2026-11-27T22:00)") from None
    try:
        detector = load_detector(args.detector or analytics.detector)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        raise InputError(f"无法加载检测器: {exc}") from None
    try:
        source = open_source(args.source, sample_fps=analytics.sample_fps)
    except SourceError as exc:
        raise InputError(str(exc)) from None
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(analytics, detector, clock=start)
    processed = 0
    try:
        with source:
            for frame in source:
                result = pipeline.process(frame)
                processed += 1
                if result.analysed or args.all_frames or result.firings:
                    _print_frame(out, args.json, frame.index, frame.t, result.analysed, result.detections)
                for f in result.firings:
                    _print_firing(out, args.json, f)
                    if args.save:
                        stem = f"{f.rule_id}-{frame.index:06d}"
                        (args.save / f"{stem}.jpg").write_bytes(f.snapshot_jpeg)
                        if f.clip_mp4:
                            (args.save / f"{stem}.mp4").write_bytes(f.clip_mp4)
                if args.max_frames and processed >= args.max_frames:
                    break
    except SourceError as exc:
        out.flush()
        err.write(f"视频源中断: {exc}\n")
    m = pipeline.metrics.as_dict()
    m["frames_decoded"] = source.decoded
    m["frames_sampled"] = processed
    if args.json:
        out.write(
            json.dumps({"type": "summary", "source": mask_url(args.source), **m}, ensure_ascii=False) + "\n"
        )
    else:
        out.write(
            f"# 共解码 {source.decoded} 帧, 采样 {processed} 帧, 检测 {m['detector_calls']} 次"
            f" (平均 {m['detector_ms_per_call'] or 0} ms), 告警 {m['firings']} 条\n"
        )
    return 0


def _print_frame(
    out: IO[str], as_json: bool, index: int, t: float, analysed: bool, dets: list[Detection]
) -> None:
    if as_json:
        row = {"type": "frame", "index": index, "t": round(t, 3), "analysed": analysed}
        row["detections"] = [_detection(d) for d in dets]
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    found = "; ".join(f"{d.label} {d.score:.2f} {_box(d.box)}" for d in dets) or "-"
    out.write(f"{t:8.2f}s #{index:<6d} {'检测' if analysed else '跳过'}  {found}\n")


def _print_firing(out: IO[str], as_json: bool, f: Any) -> None:
    if as_json:
        row = {
            "type": "firing", "rule": f.rule_id, "kind": f.kind, "zone": f.zone_id, "zone_name": f.zone_name,
            "t": round(f.t, 3), "wall": f.wall.isoformat() if f.wall else None, "label": f.label,
            "confidence": f.confidence, "box": _box(f.box), "track_id": f.track_id, "key": f.key,
            "category": f.category, "auto_case": f.auto_case, "description": f.description,
        }  # fmt: skip
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    out.write(
        f"  ** 告警 {f.rule_id} ({f.kind}) 区域 {f.zone_id} {f.zone_name} 于 {f.t:.2f}s: "
        f"{f.label} {f.confidence:.2f} {_box(f.box)} {f.description}\n"
    )


def main(
    argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = _parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem (or --help)
        return int(exc.code or 0)
    try:
        if args.command == "schema":
            out.write(json.dumps(analytics_schema(), ensure_ascii=False, indent=2) + "\n")
            return 0
        return analyse(args, out, err)
    except InputError as exc:
        err.write(f"错误: {exc}\n")
        return EXIT_INPUT
    except BrokenPipeError:  # `... | head`: the reader has gone, which is fine
        return 0
    except KeyboardInterrupt:
        return 130
