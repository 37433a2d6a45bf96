"""`shequ vision analyse SOURCE [--rules rules.json] [--json] [--fps F] [--detector ssd|onnx:path]`:
the engine's own command line (`python -m shequ_vision`), reached through `shequ` so that an
operator tries a rule on a recorded clip with the same tool as everything else (docs/video.md).

Everything after `vision` goes to `shequ_vision.cli.main` unchanged; the platform's detector
(`SHEQU_VISION_DETECTOR`) is used unless `--detector` names another.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "视频分析引擎: shequ vision analyse 视频文件或流地址 [--rules 规则.json] [--json]"
    requires_system_checks: list[str] = []  # the engine needs no database

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "argv", nargs=argparse.REMAINDER, help="analyse SOURCE [--rules ...] [--json] ..."
        )

    def run_from_argv(self, argv: list[str]) -> None:
        # Django's own options (-v, --settings) would take the engine's; the engine parses all of it.
        # `--settings` and `--pythonpath` were already read by Django's ManagementUtility.
        code = self.delegate(argv[2:])
        if code:
            raise SystemExit(code)

    def handle(self, *args: Any, argv: list[str], **options: Any) -> None:
        code = self.delegate(argv)
        if code:
            raise CommandError(f"分析失败 (退出码 {code})", returncode=code)

    def delegate(self, argv: list[str]) -> int:
        from shequ_vision.cli import main

        argv = list(argv)
        if argv[:1] in (["analyse"], ["analyze"]) and self._platform_detector_applies(argv):
            argv += ["--detector", str(settings.VISION_DETECTOR)]
        # The streams themselves: the engine ends its own lines.
        out: IO[str] = getattr(self.stdout, "_out", sys.stdout)
        err: IO[str] = getattr(self.stderr, "_out", sys.stderr)
        return int(main(argv, stdout=out, stderr=err) or 0)

    @staticmethod
    def _platform_detector_applies(argv: list[str]) -> bool:
        """The platform's detector stands in for the engine's default ("ssd") only: never over a
        --detector given, nor over a detector the rules file names."""
        if settings.VISION_DETECTOR == "ssd" or any(
            a == "--detector" or a.startswith("--detector=") for a in argv
        ):
            return False
        for i, arg in enumerate(argv):
            if arg.startswith("--rules="):
                path = arg.removeprefix("--rules=")
            elif arg == "--rules" and i + 1 < len(argv):
                path = argv[i + 1]
            else:
                continue
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False  # the engine reports the file's problem
            return not (isinstance(data, dict) and data.get("detector"))
        return True
