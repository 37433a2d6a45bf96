"""`shequ export_registry KIND --out FILE [--reveal]`: export a register to .xlsx or .csv."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.registry.exports import MODELS, export_rows
from shequ.registry.imports import KINDS


class Command(BaseCommand):
    help = "导出登记表为 Excel (.xlsx) 或 CSV; 身份证号和电话默认脱敏, --reveal 导出完整号码 (记入审计)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--out", type=Path, required=True, help="输出文件, 扩展名 .xlsx 或 .csv")
        parser.add_argument("--reveal", action="store_true", help="导出完整身份证号和电话 (记入审计日志)")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("xlsx", "csv"):
            raise CommandError("--out 的扩展名须为 .xlsx 或 .csv")
        kind = options["kind"]
        # The command line is an operator with the whole register, like the system actor.
        queryset = MODELS[kind]._default_manager.all()
        data = export_rows(kind, queryset, fmt, actor=f"cli:{getpass.getuser()}", reveal=options["reveal"])
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"无法写入 {out}: {exc.strerror}") from None
        self.stdout.write(f"已导出 {queryset.count()} 行到 {out}")
