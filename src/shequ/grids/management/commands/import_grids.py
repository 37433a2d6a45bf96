import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.grids.services import import_grid_file


class Command(BaseCommand):
    help = "Import grids from a GeoJSON, KML or KMZ file; nothing is written if any check fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, file: Path, json: bool = False, **options: Any) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        report = import_grid_file(data, file.name, actor=None)
        problems = [("error", p) for p in report.errors] + [("warning", p) for p in report.warnings]
        if json:
            self.stdout.write(
                _json(
                    {
                        "ok": report.ok,
                        "grids": [f.code for f in report.features],
                        "problems": [
                            {
                                "severity": s,
                                "feature": p.feature_index,
                                "code": p.code,
                                "kind": p.kind,
                                "message": p.message,
                            }
                            for s, p in problems
                        ],
                    }
                )
            )
        else:
            for severity, p in problems:
                where = f"#{p.feature_index} {p.code or ''}".strip() if p.feature_index is not None else "-"
                self.stdout.write(f"{severity:7} {p.kind:18} {where:24} {p.message}")
            self.stdout.write(
                f"{'imported' if report.ok else 'rejected'}: {len(report.features)} grids in {file.name}"
            )
        if not report.ok:
            raise SystemExit(1)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
