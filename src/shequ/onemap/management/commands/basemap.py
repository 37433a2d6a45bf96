import subprocess
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.onemap import basemap


class Command(BaseCommand):
    help = (
        "Build the one map's offline basemap: the grids, roads and buildings of the registers as vector "
        "tiles in one PMTiles file (VAR_DIR/basemap.pmtiles), by tippecanoe."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", type=Path, default=None, help="another file than VAR_DIR/basemap.pmtiles"
        )
        parser.add_argument("--min-zoom", type=int, default=basemap.MIN_ZOOM)
        parser.add_argument("--max-zoom", type=int, default=basemap.MAX_ZOOM)

    def handle(self, *args: Any, output: Path | None, min_zoom: int, max_zoom: int, **options: Any) -> None:
        if not 0 <= min_zoom <= max_zoom <= 22:
            raise CommandError("zooms: 0 ≤ --min-zoom ≤ --max-zoom ≤ 22")
        try:
            built = basemap.build(output, min_zoom=min_zoom, max_zoom=max_zoom)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        except subprocess.CalledProcessError as exc:
            raise CommandError(f"tippecanoe failed: {(exc.stderr or '').strip()[-2000:]}") from None
        counts = ", ".join(f"{k} {v}" for k, v in built.counts.items())
        self.stdout.write(f"{built.path}: {built.size / 1024:.0f} KiB, zoom {min_zoom}–{max_zoom} ({counts})")
