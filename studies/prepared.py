"""Hot volunteer reads compiled to SQL once per process instead of on every request.

Building a queryset's SQL (filters, joins, the select list of every loaded column) was the largest
part of a volunteer request's CPU (docs/load.md, `bench_load.py --profile`), more than the database
spent answering it, and it is the same SQL on every request: only the values differ. A
PreparedQuery builds its queryset once per database connection alias with placeholder values,
keeps the SQL, the position of each placeholder among its parameters and how Django turns a row
into model instances (the compiler's select list, related-object populators and converters),
then on each call runs that SQL with the call's values and builds the instances exactly as the
queryset would have (deferred fields, select_related objects, annotations included).

Only for querysets of plain models filtered by the placeholders: no prefetch_related, no
known-related objects (build them from Model.objects, not a related manager). The queries are
counted and logged as any other (they run through Django's cursor). The value converters are
those of the connection that compiled the query, which are the same for every connection of one
alias (they depend on the backend and the settings, not on a connection's state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    positions: dict[str, int]  # placeholder -> its index in params
    model: type
    fields: slice  # the model's own columns in a row
    init_list: list[str]
    populators: list  # select_related objects (django.db.models.query.RelatedPopulator)
    annotations: dict[str, int]
    converters: list  # (column, (converter functions, expression)), as the compiler's


class PreparedQuery:
    """`build(**placeholders)` -> the queryset, compiled once per alias; call with the values.

    Args:
        build: makes the queryset from its values, e.g. `lambda token: Model.objects.filter(...)`.
        placeholders: one value per keyword of `build` that no real call would pass: it must come
            through the field's value preparation unchanged and appear once among the parameters.
    """

    def __init__(self, build: Callable[..., QuerySet], **placeholders: Any):
        self.build = build
        self.placeholders = placeholders
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> _Compiled:
        queryset = self.build(**self.placeholders).using(using)
        if queryset._prefetch_related_lookups or queryset._known_related_objects or queryset._fields:
            raise ValueError("a prepared query builds plain model instances only")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        positions = {}
        for name, value in self.placeholders.items():
            found = [i for i, param in enumerate(params) if type(param) is type(value) and param == value]
            if len(found) != 1:
                raise ValueError(f"placeholder {name!r} appears {len(found)} times among the parameters")
            positions[name] = found[0]
        select, klass_info = compiler.select, compiler.klass_info
        columns = [column[0] for column in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("a prepared query does not read composite fields")
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1]
        return _Compiled(
            sql=sql,
            params=tuple(params),
            positions=positions,
            model=klass_info["model"],
            fields=slice(first, last + 1),
            init_list=[column[0].target.attname for column in select[first : last + 1]],
            populators=get_related_populators(klass_info, select, using),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=list(compiler.get_converters(columns).items()),
        )

    def compiled(self, using: str = "default") -> _Compiled:
        key = (using, connections[using].vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    compiled = self._compiled[key] = self._compile(using)
        return compiled

    def __call__(self, using: str = "default", **values: Any) -> list:
        """The instances the queryset would give for these values (a list)."""
        if values.keys() != self.placeholders.keys():
            raise TypeError(f"expected the values {sorted(self.placeholders)}, got {sorted(values)}")
        compiled = self.compiled(using)
        params = list(compiled.params)
        for name, value in values.items():
            params[compiled.positions[name]] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        objects = []
        for row in rows:
            row = list(row)
            for position, (converters, expression) in compiled.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
            obj = compiled.model.from_db(using, compiled.init_list, row[compiled.fields])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for attr, position in compiled.annotations.items():
                setattr(obj, attr, row[position])
            objects.append(obj)
        return objects


def one_row(queryset: QuerySet):
    """The row of a query on a unique key, or None. Unordered (`[:1]`, not `.first()`): the models'
    Meta.ordering follows their foreign keys (a trial's ["participant", ...] orders by the
    participant's study's created_at), so an ORDER BY would join two more tables for one row and
    cost compiling on every volunteer request."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None
