"""The import of one sheet, all or nothing: read, check every row, then write everything in one
transaction, or nothing at all and a report of every problem by Excel row and column.

Each kind (people, households, ...) is an `Importer` subclass that says how to check a row, which
unique keys find a row already registered, and which model fields each column writes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from shequ.core.audit import audit
from shequ.registry import identifiers
from shequ.registry.imports.columns import COLUMNS, KIND_NAMES, KINDS
from shequ.registry.imports.reading import Rejected, Table, read_table
from shequ.registry.services import Checked

log = logging.getLogger(__name__)

MODES = ("upsert", "create_only")
MAX_PROBLEMS = 1000  # problems listed in a report; the counts are always complete
BATCH = 1000
DEFAULT_SOURCE = "import"


class ProgressFn(Protocol):
    def __call__(
        self, done: int, total: int | None = None, message: str | None = None, *, force: bool = False
    ) -> None: ...


def _no_progress(
    done: int, total: int | None = None, message: str | None = None, *, force: bool = False
) -> None:
    return None


@dataclass
class ImportReport:
    kind: str
    filename: str
    mode: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warning_count: int = 0
    also_created: dict[str, int] = field(default_factory=dict)  # e.g. households a people sheet named
    message: str = ""
    job_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.error_count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Problems:
    """Collects row errors and warnings, listing at most MAX_PROBLEMS of each but counting all."""

    def __init__(self, report: ImportReport, table: Table | None, kind: str) -> None:
        self.report = report
        self.table = table
        self.columns = {c.field: c for c in COLUMNS[kind]}

    def _entry(self, row: int | None, column: str, value: Any, message: str) -> dict[str, Any]:
        spec = self.columns.get(column)
        header = (self.table.headers.get(column) if self.table else None) or (spec.header if spec else column)
        shown = "" if value is None else str(value).strip()[:100]
        if shown and spec is not None and spec.personal:
            shown = _mask(column, shown)
        return {"row": row, "column": header, "value": shown, "message": message}

    def error(self, row: int | None, column: str, value: Any, message: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < MAX_PROBLEMS:
            self.report.errors.append(self._entry(row, column, value, message))

    def warning(self, row: int | None, column: str, value: Any, message: str) -> None:
        self.report.warning_count += 1
        if len(self.report.warnings) < MAX_PROBLEMS:
            self.report.warnings.append(self._entry(row, column, value, message))


def _mask(column: str, value: str) -> str:
    if column == "id_number":
        return identifiers.mask_resident_id(value)
    if column == "phone":
        return identifiers.mask_phone(value)
    return identifiers.mask_name(value)


def chunks[T](items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Context:
    actor: Any
    mode: str
    table: Table
    problems: Problems
    report: ImportReport
    scope: frozenset[int] | None  # grid pks the actor may change; None = all

    def in_scope(self, grid_id: int | None) -> bool:
        return self.scope is None or grid_id in self.scope


Key = tuple[Any, ...]


class Importer:
    """How one kind is imported. Subclasses fill in the class attributes and `check`."""

    kind: ClassVar[str]
    model: ClassVar[type[models.Model]]
    # Unique keys in the order they are tried; each is a tuple of model fields.
    lookups: ClassVar[tuple[tuple[str, ...], ...]]
    # The column each key is reported under.
    key_columns: ClassVar[dict[tuple[str, ...], str]]
    # Column field -> model attnames it writes on a row that exists already.
    writes: ClassVar[dict[str, tuple[str, ...]]]

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- hooks ---------------------------------------------------------------------------------
    def prepare(self, rows: list[tuple[int, dict[str, Any]]]) -> None:
        """Load what the rows refer to (tags, grids, ...) in a few queries, before `check`."""

    def check(self, number: int, raw: dict[str, Any]) -> dict[str, Any] | None:
        """Clean values (model attnames; '_'-prefixed extras) or None after reporting problems."""
        raise NotImplementedError

    def after_check(self, checked: list[tuple[int, dict[str, Any]]]) -> None:
        """Work done for all checked rows at once (locating points in grids)."""

    def keys(self, values: dict[str, Any]) -> list[tuple[tuple[str, ...], Key]]:
        found = []
        for lookup in self.lookups:
            key = tuple(values.get(f) for f in lookup)
            if all(k not in (None, "") for k in key):
                found.append((lookup, key))
        return found

    def fetch(self, lookup: tuple[str, ...], keys: set[Key]) -> dict[Key, models.Model]:
        out: dict[Key, models.Model] = {}
        last = lookup[-1]
        wanted = sorted({k[-1] for k in keys})
        for part in chunks(wanted):
            for row in self.base_queryset().filter(**{f"{last}__in": part}):
                key = tuple(getattr(row, f) for f in lookup)
                if key in keys:
                    out[key] = row
        return out

    def base_queryset(self) -> models.QuerySet[Any]:
        return self.model._default_manager.all()

    def update_fields(self) -> list[str]:
        present = self.ctx.table.headers
        return sorted({f for column, fs in self.writes.items() if column in present for f in fs})

    def changes(self, instance: models.Model, values: dict[str, Any], fields: list[str]) -> list[str]:
        if not values.get("source_id"):
            # An empty 来源编号 never overwrites where a row came from (it was found by another key).
            fields = [f for f in fields if f not in ("source", "source_id")]
        return [f for f in fields if f[0] != "_" and f in values and getattr(instance, f) != values[f]]

    def new(self, values: dict[str, Any]) -> models.Model:
        return self.model(**{k: v for k, v in values.items() if not k.startswith("_")})

    def write(
        self,
        creates: list[dict[str, Any]],
        updates: list[tuple[models.Model, dict[str, Any], list[str]]],
        progress: ProgressFn,
    ) -> None:
        rows = [self.new(v) for v in creates]
        self.model._default_manager.bulk_create(rows, batch_size=BATCH)
        self.bulk_update(updates)

    def bulk_update(self, updates: list[tuple[models.Model, dict[str, Any], list[str]]]) -> None:
        """Group rows by the fields that changed, so each UPDATE sets only those."""
        now = timezone.now()
        groups: dict[tuple[str, ...], list[models.Model]] = defaultdict(list)
        for instance, values, changed in updates:
            for f in changed:
                setattr(instance, f, values[f])
            if hasattr(instance, "updated_at"):
                instance.updated_at = now  # type: ignore[attr-defined]
            groups[tuple(changed)].append(instance)
        for fields, instances in groups.items():
            model_fields = [f for f in fields if not f.startswith("_")]
            if model_fields:
                names = [*model_fields, "updated_at"] if hasattr(self.model, "updated_at") else model_fields
                self.model._default_manager.bulk_update(instances, names, batch_size=500)

    def visible(self, instance: models.Model) -> bool:
        return self.ctx.in_scope(getattr(instance, "grid_id", None))

    # -- helpers for subclasses ------------------------------------------------------------------
    def error(self, number: int, column: str, value: Any, message: str) -> None:
        self.ctx.problems.error(number, column, value, message)

    def warning(self, number: int, column: str, value: Any, message: str) -> None:
        self.ctx.problems.warning(number, column, value, message)

    def accept(self, number: int, raw: dict[str, Any], checked: Checked) -> dict[str, Any] | None:
        """Report a checked row's errors and warnings against its cells; its values, with the source
        columns, when it has no error, else None."""
        for column, message in checked.errors:
            self.error(number, column, raw.get(column), message)
        for column, message in checked.warnings:
            self.warning(number, column, raw.get(column), message)
        if not checked.ok:
            return None
        self.source(raw, checked.values)
        return checked.values

    def source(self, raw: dict[str, Any], values: dict[str, Any]) -> None:
        """来源/来源编号 columns, the default source being "import"."""
        from shequ.registry.imports.reading import text

        if "source" in self.ctx.table.headers or "source_id" in self.ctx.table.headers:
            values["source"] = text(raw.get("source"))[:40] or DEFAULT_SOURCE
            values["source_id"] = text(raw.get("source_id"))[:120]
        else:
            values["source"], values["source_id"] = DEFAULT_SOURCE, ""


def _importer_class(kind: str) -> type[Importer]:
    from shequ.registry.imports import kinds

    return kinds.IMPORTERS[kind]


def _scope_of(actor: Any) -> frozenset[int] | None:
    if not getattr(actor, "is_authenticated", False):
        return None  # the system or the command line: an operator with the whole register
    from shequ.grids.selectors import visible_grid_ids

    return visible_grid_ids(actor)


def import_file(
    kind: str,
    data: bytes,
    filename: str,
    *,
    actor: Any,
    mode: str = "upsert",
    progress: ProgressFn | None = None,
    job_id: int | None = None,
) -> ImportReport:
    """Import a register sheet, all or nothing. `mode` upsert updates rows whose key is registered;
    create_only refuses them. The report lists every problem; when it has errors, nothing was written."""
    if kind not in KINDS:
        raise ValueError(f"unknown register kind {kind!r}; one of {', '.join(KINDS)}")
    if mode not in MODES:
        raise ValueError(f"unknown import mode {mode!r}; one of {', '.join(MODES)}")
    progress = progress or _no_progress
    report = ImportReport(kind=kind, filename=filename, mode=mode, job_id=job_id)
    progress(0, None, "读取文件", force=True)
    try:
        table = read_table(kind, data, filename)
    except Rejected as exc:
        Problems(report, None, kind).error(None, "", "", exc.message)
        return _rejected(report, actor, exc.message)
    ctx = Context(
        actor=actor,
        mode=mode,
        table=table,
        problems=Problems(report, table, kind),
        report=report,
        scope=_scope_of(actor),
    )
    plan = plan_import(_importer_class(kind)(ctx), progress)
    if report.error_count:
        return _rejected(report, actor, f"{report.error_count} 处错误, 未导入任何数据; 请改正后重新导入")
    try:
        apply_plan(plan, progress)
    except IntegrityError as exc:
        log.warning("import of %s collided with a concurrent write: %s", filename, exc)
        message = "导入期间登记数据被他人修改, 未导入任何数据; 请重新导入"
        Problems(report, None, kind).error(None, "", "", message)
        return _rejected(report, actor, message)
    progress(report.rows, report.rows, report.message, force=True)
    return report


def _rejected(report: ImportReport, actor: Any, message: str) -> ImportReport:
    report.created = report.updated = report.unchanged = 0
    report.also_created = {}
    report.message = message
    # Who tried to load what is worth keeping even when nothing was written.
    audit(
        "registry.import.rejected",
        actor=actor,
        kind=report.kind,
        filename=report.filename[:200],
        mode=report.mode,
        rows=report.rows,
        errors=report.error_count,
        job_id=report.job_id,
    )
    return report


@dataclass
class Plan:
    importer: Importer
    creates: list[dict[str, Any]]
    updates: list[tuple[models.Model, dict[str, Any], list[str]]]


def plan_import(importer: Importer, progress: ProgressFn) -> Plan:
    """Check every row and decide create / update / unchanged; problems go to the report."""
    ctx = importer.ctx
    rows = ctx.table.rows
    total = len(rows)
    ctx.report.rows = total
    progress(0, total, "校验中", force=True)
    importer.prepare(rows)
    checked: list[tuple[int, dict[str, Any]]] = []
    for i, (number, raw) in enumerate(rows):
        values = importer.check(number, raw)
        if values is not None:
            checked.append((number, values))
        if i % 500 == 0:
            progress(i, total, "校验中")
    importer.after_check(checked)

    # Keys: the same key twice in the file, then the rows registered already.
    row_keys: list[list[tuple[tuple[str, ...], Key]]] = []
    first_seen: dict[tuple[tuple[str, ...], Key], int] = {}
    wanted: dict[tuple[str, ...], set[Key]] = defaultdict(set)
    duplicate_rows: set[int] = set()
    for number, values in checked:
        keys = importer.keys(values)
        row_keys.append(keys)
        for lookup, key in keys:
            column = importer.key_columns[lookup]
            if (lookup, key) in first_seen:
                importer.error(
                    number, column, values.get(column, key[-1]), f"与第 {first_seen[lookup, key]} 行重复"
                )
                duplicate_rows.add(number)
            else:
                first_seen[lookup, key] = number
                wanted[lookup].add(key)
    existing = {lookup: importer.fetch(lookup, keys) for lookup, keys in wanted.items()}

    fields = importer.update_fields()
    plan = Plan(importer, [], [])
    claimed: dict[Any, int] = {}  # pk of a registered row -> the sheet row that matched it
    for (number, values), keys in zip(checked, row_keys, strict=True):
        if number in duplicate_rows:
            continue
        matches = [(lookup, existing[lookup].get(key)) for lookup, key in keys]
        found = {m.pk: (lookup, m) for lookup, m in matches if m is not None}
        if len(found) > 1:
            (l1, _m1), (l2, _m2) = list(found.values())[:2]
            importer.error(
                number,
                importer.key_columns[l2],
                values.get(importer.key_columns[l2]),
                f"与“{_header(ctx, importer.key_columns[l1])}”指向不同的已登记记录",
            )
            continue
        if not found:
            plan.creates.append(values)
            continue
        lookup, instance = next(iter(found.values()))
        column = importer.key_columns[lookup]
        if instance.pk in claimed:
            # e.g. one row finds a person by 来源编号 and changes the ID number another row still has
            importer.error(
                number, column, values.get(column), f"与第 {claimed[instance.pk]} 行指向同一已登记记录"
            )
            continue
        claimed[instance.pk] = number
        if ctx.mode == "create_only":
            importer.error(number, column, values.get(column), "已登记 (仅新增模式不修改已有记录)")
        elif not importer.visible(instance):
            importer.error(number, column, values.get(column), "已登记, 但不在您管辖的网格内, 无权修改")
        else:
            changed = importer.changes(instance, values, fields)
            if changed:
                plan.updates.append((instance, values, changed))
            else:
                ctx.report.unchanged += 1
    progress(total, total, "校验完成", force=True)
    return plan


def _header(ctx: Context, column: str) -> str:
    return ctx.table.headers.get(column, column)


def apply_plan(plan: Plan, progress: ProgressFn) -> None:
    importer, report = plan.importer, plan.importer.ctx.report
    progress(0, report.rows, "写入中", force=True)
    with transaction.atomic():
        importer.write(plan.creates, plan.updates, progress)
        report.created, report.updated = len(plan.creates), len(plan.updates)
        name = KIND_NAMES[importer.kind]
        report.message = (
            f"{name}导入完成: 新增 {report.created}, 更新 {report.updated}, 未变 {report.unchanged}"
        )
        audit(
            "registry.import",
            actor=importer.ctx.actor,
            kind=importer.kind,
            filename=report.filename[:200],
            mode=report.mode,
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            also_created=report.also_created,
            warnings=report.warning_count,
            job_id=report.job_id,
        )
