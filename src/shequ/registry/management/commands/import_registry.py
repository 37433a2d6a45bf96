"""`shequ import_registry KIND FILE`: import a register sheet (.xlsx or .csv), all or nothing."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.registry.imports import KINDS, MODES, import_file


class Command(BaseCommand):
    help = "导入登记表 (人员/户/楼栋/组织/部件) 的 Excel 或 CSV 文件; 有任何错误则不导入任何数据"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file", type=Path)
        parser.add_argument("--mode", choices=MODES, default="upsert", help="upsert (默认) 或 create_only")
        parser.add_argument("--json", action="store_true", help="以 JSON 输出报告")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            with path.open("rb") as f:
                data = f.read(settings.IMPORT_MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"无法读取 {path}: {exc.strerror}") from None

        def progress(
            done: int, total: int | None = None, message: str | None = None, *, force: bool = False
        ) -> None:
            if not options["json"]:
                shown = f"{done}/{total}" if total else f"{done}"
                self.stderr.write(f"\r{message or ''} {shown}   ", ending="")
                self.stderr.flush()

        report = import_file(
            options["kind"],
            data,
            path.name,
            actor=f"cli:{getpass.getuser()}",
            mode=options["mode"],
            progress=progress,
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stderr.write("")
            self.stdout.write(report.message)
            for problem in report.errors:
                where = f"第 {problem['row']} 行 {problem['column']}" if problem["row"] else "文件"
                value = f" [{problem['value']}]" if problem["value"] else ""
                self.stdout.write(f"  错误 {where}{value}: {problem['message']}")
            if report.error_count > len(report.errors):
                self.stdout.write(f"  …… 共 {report.error_count} 处错误, 只列出前 {len(report.errors)} 处")
            for problem in report.warnings[:50]:
                self.stdout.write(f"  提示 第 {problem['row']} 行 {problem['column']}: {problem['message']}")
            if report.warning_count > 50:
                self.stdout.write(f"  …… 共 {report.warning_count} 处提示")
        if not report.ok:
            sys.exit(1)
