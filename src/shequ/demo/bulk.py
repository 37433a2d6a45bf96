"""Plain INSERTs for the rows the demo generator owns: registers (dwellings, households, residents
and their tags, assets) and the year of cases.

Django's `bulk_create` compiles its INSERT value by value, and with DEBUG on (the dev profile, where
`make demo` runs) quotes every parameter a second time for the query log: for 82,000 residents that
took 12 to 17 of the generation's 43 seconds. Here each model gets one statement, run with
`executemany`; values are prepared as `bulk_create` prepares them (`get_db_prep_save` for dates,
JSON and encrypted fields), except strings, numbers and booleans bound for columns of the same
plain type, which the database driver takes as they are. An instance's auto_now timestamps are the
moment of the INSERT, one for all its rows (bulk_create's differ by microseconds).

Ids are allocated here, after the table's largest, as `loaddata` does; PostgreSQL's sequences are
moved past them afterwards. Run inside the generator's transaction (on SQLite it holds the write
lock from its start).
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models
from django.db.models import Max

BATCH = 2000

# Field classes (exactly these, not subclasses such as EncryptedTextField) whose get_db_prep_save
# returns a value of one plain type unchanged: str for text, int for integers, and so on.
_PLAIN: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.FloatField: float,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
}


def next_id(model: type[models.Model]) -> int:
    """The first id after the table's largest."""
    return int(model._default_manager.aggregate(last=Max("pk"))["last"] or 0) + 1


def insert(model: type[models.Model], rows: Sequence[Any]) -> None:
    """INSERT `rows`: unsaved instances of `model`, or other objects with an attribute per column
    attname (`category_id`, ...) whose values are taken as they are (no `pre_save`). Rows without an
    id get the next ones; instances are marked saved, as `bulk_create` leaves them."""
    if not rows:
        return
    opts = model._meta
    pk_name = opts.pk.attname
    first = next_id(model)
    for row in rows:
        if getattr(row, pk_name) is None:
            setattr(row, pk_name, first)
            first += 1
    fields = [f for f in opts.concrete_fields if not f.generated]
    instances = isinstance(rows[0], models.Model)
    prepare = [_stamp(f, rows) if _automatic(f, instances) else _preparer(f, instances) for f in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    with connection.cursor() as cursor:
        for chunk in itertools.batched(rows, BATCH):
            cursor.executemany(sql, [tuple(p(row) for p in prepare) for row in chunk])
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):  # PostgreSQL only
            cursor.execute(statement)
    if instances:
        for row in rows:
            row._state.adding, row._state.db = False, connection.alias


def _automatic(f: models.Field, instances: bool) -> bool:
    return instances and isinstance(f, models.DateField) and bool(f.auto_now or f.auto_now_add)  # type: ignore[attr-defined]


def _stamp(f: models.Field, rows: Sequence[Any]) -> Callable[[Any], Any]:
    """An auto_now(_add) timestamp: the moment of this INSERT, the same for every row of it."""
    value = f.pre_save(rows[0], True)
    prepared = f.get_db_prep_save(value, connection)

    def stamp(row: Any) -> Any:
        setattr(row, f.attname, value)  # as pre_save leaves the instance
        return prepared

    return stamp


def _preparer(f: models.Field, instances: bool) -> Callable[[Any], Any]:
    attname = f.attname
    # Instances get pre_save where it can change the value (files, fields of other apps).
    pre_save = instances and not (type(f) in _PLAIN or isinstance(f, models.ForeignKey | models.DateField))

    def slow(row: Any) -> Any:
        value = f.pre_save(row, True) if pre_save else getattr(row, attname)
        if isinstance(value, enum.Enum) and not instances:
            value = value.value
        return f.get_db_prep_save(value, connection)

    target = f.target_field if isinstance(f, models.ForeignKey) else f
    plain = _PLAIN.get(type(target))
    if plain is not None:

        def fast(row: Any) -> Any:
            value = getattr(row, attname)
            return value if value is None or type(value) is plain else slow(row)

        return fast
    if type(f) is models.DateTimeField:
        adapt = connection.ops.adapt_datetimefield_value

        def moment(row: Any) -> Any:
            value = getattr(row, attname)
            if value is None:
                return None
            return adapt(value) if type(value) is dt.datetime and value.tzinfo else slow(row)

        return moment
    if type(f) is models.DateField:
        adapt_date = connection.ops.adapt_datefield_value

        def day(row: Any) -> Any:
            value = getattr(row, attname)
            return adapt_date(value) if type(value) is dt.date else slow(row)

        return day
    return slow
