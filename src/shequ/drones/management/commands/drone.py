"""`shequ drone SUBCOMMAND ...`: the drone side from the command line (docs/drones.md, "Command
line").

    shequ drone plan --grid CODE --altitude M --overlap P [--side-overlap P] [--angle D]
                     [--pattern survey|perimeter] [--drone CODE | --sensor WxH --focal F --image WxH]
                     [--speed S] [--firmware px4|ardupilot] --out FILE.plan [--waypoints FILE] [--json]
    shequ drone plan --import FILE.plan|FILE.waypoints [--json]
    shequ drone photo FILE... [--json]          (shequ_vision.aerial.cli_photo)
    shequ drone telemetry [--udp HOST:PORT]     (shequ.drones.telemetry.main)
    shequ drone watch DIR [--once]              (shequ.drones.services.photos.watch_main)

Everything after the subcommand goes to it unchanged, as `shequ vision` does. Bad arguments exit
with status 2 and a message; a file that is no mission file exits 1; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

# Each subcommand: module and function, imported only when it is used (the photo engine loads
# OpenCV, the telemetry receiver pymavlink), all called as f(argv, out, err) -> exit status.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "plan": ("shequ.drones.management.commands.drone", "plan_main", "规划航线, 导出/查看 .plan 航线文件"),
    "photo": ("shequ_vision.aerial", "cli_photo", "航拍照片: 位置、高度、朝向、地面范围和识别结果"),
    "telemetry": ("shequ.drones.telemetry", "main", "接收 MAVLink 遥测 (UDP) 记录架次和航迹"),
    # H4 (photos): the folder watch.
    "watch": ("shequ.drones.services.photos", "watch_main", "监视文件夹, 导入航拍照片"),
}


class Command(BaseCommand):
    help = "无人机: shequ drone plan|photo|telemetry|watch ... (shequ drone SUBCOMMAND -h 查看用法)"
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("argv", nargs=argparse.REMAINDER, help="plan|photo|telemetry|watch ...")

    def run_from_argv(self, argv: list[str]) -> None:
        # Django's own options (-v, --settings) would take the subcommand's; it parses all of them.
        code = self.delegate(argv[2:])
        if code:
            raise SystemExit(code)

    def handle(self, *args: Any, argv: list[str], **options: Any) -> None:
        code = self.delegate(argv)
        if code:
            raise CommandError(f"drone {' '.join(argv[:1])} 失败 (退出码 {code})", returncode=code)

    def delegate(self, argv: Sequence[str]) -> int:
        out: IO[str] = getattr(self.stdout, "_out", sys.stdout)
        err: IO[str] = getattr(self.stderr, "_out", sys.stderr)
        return main(list(argv), out, err)


def usage() -> str:
    lines = ["用法: shequ drone SUBCOMMAND [参数...]", ""]
    lines += [f"  {name:<10} {text}" for name, (_, _, text) in SUBCOMMANDS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        (out if argv else err).write(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        err.write(f"shequ drone: 未知的子命令 {name!r}\n\n" + usage())
        return 2
    module, function, _ = SUBCOMMANDS[name]
    run: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return int(run(rest, out, err) or 0)


# --- plan -----------------------------------------------------------------------------------------


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports to the given stream and returns instead of exiting."""

    def __init__(self, *args: Any, out: IO[str], err: IO[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._out, self._err = out, err

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self._err if file is sys.stderr else self._out).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._err.write(message)
        raise SystemExit(status)


def _overlap(text: str) -> float:
    """0.7 or 70 (per cent)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"重叠率应为数字 (如 0.7 或 70): {text!r}") from None
    return value / 100 if value > 1 else value


def _size(text: str) -> tuple[float, float]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为 宽x高 (如 17.3x13): {text!r}") from None


def _parser(out: IO[str], err: IO[str]) -> _Parser:
    p = _Parser(
        prog="shequ drone plan",
        description="规划网格的航线并导出 QGroundControl .plan (或查看一个航线文件的航点)",
        out=out,
        err=err,
    )
    p.add_argument("--import", dest="import_file", metavar="FILE", help="查看 .plan 或 .waypoints 文件的航点")
    p.add_argument("--grid", action="append", metavar="CODE", help="网格编码 (可重复, 合并规划)")
    p.add_argument("--altitude", type=float, metavar="M", help="飞行高度 (米, 相对起飞点)")
    p.add_argument("--overlap", type=_overlap, metavar="P", help="航向重叠率 (0.7 或 70); 也是旁向的默认值")
    p.add_argument("--side-overlap", type=_overlap, metavar="P", help="旁向重叠率 (默认同 --overlap)")
    p.add_argument("--angle", type=float, metavar="D", help="航线方向 (度, 正北为 0 顺时针; 默认沿最长边)")
    p.add_argument("--pattern", choices=["survey", "perimeter"], default="survey", help="测绘往返或边界巡线")
    p.add_argument("--drone", metavar="CODE", help="无人机编号 (用它的相机和机巢)")
    p.add_argument("--sensor", type=_size, metavar="WxH", help="传感器尺寸 毫米 (无 --drone 时)")
    p.add_argument("--focal", type=float, metavar="F", help="焦距 毫米 (无 --drone 时)")
    p.add_argument("--image", type=_size, metavar="WxH", help="照片尺寸 像素 (无 --drone 时)")
    p.add_argument("--speed", type=float, metavar="S", help="速度 米/秒 (默认 8 或无人机的巡航速度)")
    p.add_argument("--firmware", choices=["px4", "ardupilot"], default="px4", help="飞控 (默认 px4)")
    p.add_argument("--out", metavar="FILE.plan", help="写出的 .plan 文件")
    p.add_argument("--waypoints", metavar="FILE", help="另写出 MAVLink 航点文件 (QGC WPL 110)")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    return p


def plan_main(argv: list[str], out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    parser = _parser(out, err)
    try:
        args = parser.parse_args(argv)
        if args.import_file:
            planning = [o for o in ("grid", "altitude", "overlap", "out", "drone") if getattr(args, o)]
            if planning:
                raise UsageError(f"--import 不能与 --{planning[0]} 同用")
            return _show_file(Path(args.import_file), as_json=args.json, out=out, err=err)
        missing = [o for o in ("grid", "altitude", "out") if getattr(args, o) in (None, [])]
        if missing:
            raise UsageError(
                "规划航线需要 " + ", ".join(f"--{m}" for m in missing) + " (或用 --import 查看文件)"
            )
        camera = _camera(args)
        return _plan(args, camera, out=out, err=err)
    except UsageError as exc:
        err.write(parser.format_usage())
        err.write(f"shequ drone plan: 错误: {exc}\n")
        return 2
    except SystemExit as exc:  # -h
        return int(exc.code or 0)


def _camera(args: argparse.Namespace) -> Any:
    from shequ_vision.optics import CameraModel

    given = [args.sensor, args.focal, args.image]
    if args.drone and any(v is not None for v in given):
        raise UsageError("--drone 与 --sensor/--focal/--image 不能同用")
    if not any(v is not None for v in given):
        return None  # the drone's camera, or the default one
    if not all(v is not None for v in given):
        raise UsageError("自定相机需要同时给出 --sensor, --focal 和 --image")
    try:
        width, height = args.image
        return CameraModel(args.sensor[0], args.sensor[1], args.focal, int(width), int(height))
    except ValueError as exc:
        raise UsageError(f"相机参数无效: {exc}") from None


def _plan(args: argparse.Namespace, camera: Any, *, out: IO[str], err: IO[str]) -> int:
    from shequ.core.errors import DomainError
    from shequ.drones.services import missions
    from shequ_vision import missionfile

    fields: dict[str, Any] = {
        "pattern": args.pattern,
        "grids": args.grid,
        "altitude_m": args.altitude,
    }
    if args.overlap is not None:
        fields["front_overlap"] = args.overlap
        fields["side_overlap"] = args.overlap
    if args.side_overlap is not None:
        fields["side_overlap"] = args.side_overlap
    if args.angle is not None:
        fields["angle_deg"] = args.angle
    if args.drone:
        fields["drone"] = args.drone
    if args.speed is not None:
        fields["speed_m_s"] = args.speed
    try:
        route, values = missions.preview_mission(actor="system", camera=camera, **fields)
        share = missions.coverage_share(route.coverage, missions.grid_area(values["grids"]))
    except DomainError as exc:
        for problem in getattr(exc, "errors", None) or [{"field": exc.field or "", "message": exc.message}]:
            label = f"--{_OPTION.get(problem['field'], problem['field'])}: " if problem["field"] else ""
            err.write(f"shequ drone plan: 错误: {label}{problem['message']}\n")
        return 2
    drone = values.get("drone")
    dock = drone.dock if drone is not None and drone.dock_id else None
    home = (dock.lon, dock.lat, dock.elevation_m or 0.0) if dock else None
    plan = missionfile.to_plan(route, home=home, cruise_speed=values["speed_m_s"], firmware=args.firmware)
    written = [_write(Path(args.out), json.dumps(plan, indent=4, ensure_ascii=False), err)]
    if args.waypoints:
        written.append(_write(Path(args.waypoints), missionfile.to_waypoints_file(route, home=home), err))
    if not all(written):
        return 1
    summary = missions.summary(route) | {"coverage": round(share, 4), "out": args.out}
    if args.waypoints:
        summary["waypoints_file"] = args.waypoints
    if args.json:
        out.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return 0
    minutes, seconds = divmod(round(route.duration_s), 60)
    spacing = "" if route.photo_spacing_m is None else f" (间距 {route.photo_spacing_m:.1f} 米)"
    out.write(
        f"航线 {', '.join(args.grid)}: {args.pattern}, 高度 {args.altitude:g} 米\n"
        f"  航线条数 {route.lines}, 航点 {len(route.waypoints)}, 照片 {route.photo_count} 张{spacing}\n"
        f"  航程 {route.length_m / 1000:.2f} 公里, 预计 {minutes} 分 {seconds:02d} 秒, "
        f"网格覆盖 {share:.1%}\n"
        f"  已写出 {args.out}" + (f" 和 {args.waypoints}" if args.waypoints else "") + "\n"
    )
    return 0


_OPTION = {
    "grids": "grid",
    "altitude_m": "altitude",
    "front_overlap": "overlap",
    "side_overlap": "side-overlap",
    "angle_deg": "angle",
    "speed_m_s": "speed",
    "drone": "drone",
    "pattern": "pattern",
}


def _write(path: Path, text: str, err: IO[str]) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.write(f"shequ drone plan: 无法写入 {path}: {exc.strerror or exc}\n")
        return False
    return True


def _show_file(path: Path, *, as_json: bool, out: IO[str], err: IO[str]) -> int:
    from shequ_vision import missionfile

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"无法读取 {path}: {exc.strerror or exc}") from None
    try:
        plan = missionfile.read_mission_file(data, name=path.name)
    except missionfile.MissionFileError as exc:
        err.write(f"shequ drone plan: {path}: {exc.message}\n")
        return 1
    if as_json:
        body = {
            "file": str(path),
            "home": None
            if plan.home is None
            else dict(zip(("lon", "lat", "alt_msl"), plan.home, strict=True)),
            "takeoff": None
            if plan.takeoff is None
            else dict(zip(("lon", "lat", "alt"), plan.takeoff, strict=True)),
            "photo_spacing_m": plan.photo_spacing_m,
            "waypoints": [{"lat": lat, "lon": lon, "alt": alt} for lon, lat, alt in plan.waypoints],
        }
        out.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return 0
    out.write(f"{path.name}: {len(plan.waypoints)} 个航点 (纬度, 经度, 相对高度 米)\n")
    if plan.home is not None:
        out.write(f"  起飞点 {plan.home[1]:.7f}, {plan.home[0]:.7f}, 海拔 {plan.home[2]:g}\n")
    for n, (lon, lat, alt) in enumerate(plan.waypoints, start=1):
        out.write(f"  {n:>4}  {lat:.7f}, {lon:.7f}, {alt:g}\n")
    return 0
