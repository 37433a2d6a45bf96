"""Import of the registers from Excel (.xlsx) and CSV: see `columns` for the sheets' columns,
`engine.import_file` for the all-or-nothing import, and registry.tasks for the job that runs it."""

from shequ.registry.imports.columns import COLUMNS, KIND_NAMES, KINDS, Column
from shequ.registry.imports.engine import MAX_PROBLEMS, MODES, ImportReport, ProgressFn, import_file

__all__ = [
    "COLUMNS",
    "KINDS",
    "KIND_NAMES",
    "MAX_PROBLEMS",
    "MODES",
    "Column",
    "ImportReport",
    "ProgressFn",
    "import_file",
]
