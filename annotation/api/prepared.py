"""ORM queries of the request hot paths, compiled to SQL once per process and shape, run with each request's values.

Building and compiling a query through the ORM costs far more CPU than running it: measured on the task
endpoints, the project-and-gate query took 2.6 ms to build and compile and 0.2 ms to run, the candidate
query 4 ms and 0.7 ms. Every annotator request asks the same few queries with other ids, so each is written
once as an ordinary queryset (``build``), compiled the first time with placeholder values, and later runs
only put the request's values in the placeholders' positions and execute the SQL. The rows come back as
model instances through Django's own iterable (``select_related`` and annotations included), exactly as
iterating the queryset would give them.

``key`` names the query and every choice that changes its SQL beyond the values (which routing source, how
many expert domains, the database vendor is added here); the values are ints, strings or datetimes. With
``PREPARED_QUERIES_VERIFY`` on (the test settings), every run also builds and compiles the query with the
real values and fails if the SQL or parameters differ, so a key that misses a choice fails the test suite.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet

_FIRST_INT = 2_100_000_000  # inside the range of every integer column, far above any real id or quota
_EPOCH = datetime(1901, 1, 1, tzinfo=UTC)


class PreparedQueryError(RuntimeError):
    """A query could not be prepared, or a prepared query compiled differently from a fresh one."""


@dataclass
class _Slot:
    """Where a value goes among the parameters, and in which form: ``plain`` (the value as the backend takes
    it), ``json`` (as JSON text) or ``wrapped`` (in the driver's JSON wrapper, e.g. psycopg's ``Jsonb``):
    the last two are how JSON key lookups pass their values."""

    position: int
    name: str
    form: str


@dataclass
class _Compiled:
    compiler: Any
    sql: str
    params: tuple
    slots: list[_Slot]


class _CompiledQuery:
    """What ``QuerySet`` needs of its query to iterate: the compiler, with the SQL already made."""

    values_select = ()

    def __init__(self, compiler) -> None:
        self.compiler = compiler

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        return self.compiler


_cache: dict[Hashable, _Compiled] = {}
_lock = threading.Lock()


def _placeholders(values: dict[str, Any]) -> dict[str, Any]:
    """A distinct placeholder per value, of the value's type (a list of strings: one per item)."""
    counter = itertools.count()
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, bool) or value is None:
            raise PreparedQueryError(f"{name}: booleans and None change a query's shape; put them in the key")
        if isinstance(value, int):
            out[name] = _FIRST_INT + next(counter)
        elif isinstance(value, str):
            out[name] = f"prepared-placeholder-{next(counter)}"
        elif isinstance(value, datetime):
            out[name] = _EPOCH + timedelta(microseconds=next(counter) + 1)
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[name] = [f"prepared-placeholder-{next(counter)}" for _ in value]
        else:
            raise PreparedQueryError(
                f"{name}: only ints, strings, datetimes and lists of strings are prepared"
            )
    return out


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    """Lists of strings as one entry per item ('name#0', 'name#1', ...)."""
    out = {}
    for name, value in values.items():
        if isinstance(value, list | tuple):
            out.update({f"{name}#{k}": v for k, v in enumerate(value)})
        else:
            out[name] = value
    return out


def _adapt(connection, value: Any) -> Any:
    """A value as the backend passes it as a parameter (SQLite gets datetimes as text)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _slots(connection, params: tuple, placeholders: dict[str, Any]) -> list[_Slot]:
    """Where each placeholder sits among the compiled parameters; every one must sit somewhere."""
    plain = {_adapt(connection, v): name for name, v in placeholders.items()}
    as_json = {json.dumps(v): name for name, v in placeholders.items() if isinstance(v, str)}
    slots = []
    for position, param in enumerate(params):
        key = param if isinstance(param, Hashable) else None
        wrapped = getattr(param, "obj", None) if type(param).__name__ in ("Json", "Jsonb") else None
        if key in plain:
            slots.append(_Slot(position, plain[key], "plain"))
        elif key in as_json:
            slots.append(_Slot(position, as_json[key], "json"))
        elif isinstance(wrapped, Hashable) and wrapped in plain:
            slots.append(_Slot(position, plain[wrapped], "wrapped"))
        elif "prepared-placeholder-" in repr(param):
            raise PreparedQueryError(f"a placeholder is part of the parameter {param!r}: cannot prepare it")
    missing = set(placeholders) - {slot.name for slot in slots}
    if missing:
        raise PreparedQueryError(f"values {sorted(missing)} do not appear among the query's parameters")
    return slots


def _compile(queryset: QuerySet, alias: str) -> tuple[Any, str, tuple]:
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    return compiler, sql, tuple(params)


def _prepare(build: Callable[..., QuerySet], values: dict[str, Any], alias: str) -> _Compiled:
    placeholders = _placeholders(values)
    compiler, sql, params = _compile(build(**placeholders), alias)
    return _Compiled(compiler, sql, params, _slots(connections[alias], params, _flat(placeholders)))


def _params(compiled: _Compiled, values: dict[str, Any], connection) -> tuple:
    flat = _flat(values)
    params = list(compiled.params)
    for slot in compiled.slots:
        value = flat[slot.name]
        if slot.form == "json":
            params[slot.position] = json.dumps(value)
        elif slot.form == "wrapped":
            params[slot.position] = copy.copy(params[slot.position])
            params[slot.position].obj = value
        else:
            params[slot.position] = _adapt(connection, value)
    return tuple(params)


def _comparable(params: tuple) -> tuple:
    """Parameters as values that compare by content (the driver's JSON wrappers compare by identity)."""
    return tuple((type(p).__name__, p.obj) if type(p).__name__ in ("Json", "Jsonb") else p for p in params)


def _verify(key: Hashable, build, values: dict[str, Any], alias: str, sql: str, params: tuple) -> None:
    _, fresh_sql, fresh_params = _compile(build(**values), alias)
    if (fresh_sql, _comparable(fresh_params)) != (sql, _comparable(params)):
        raise PreparedQueryError(
            f"prepared query {key!r} differs from a fresh compile (its key misses a choice):\n"
            f"prepared: {sql} {params}\nfresh:    {fresh_sql} {fresh_params}"
        )


def prepared(key: Hashable, build: Callable[..., QuerySet], /, **values) -> list:
    """The model instances of ``build(**values)``, its SQL compiled once per ``key`` and database vendor."""
    using = DEFAULT_DB_ALIAS
    connection = connections[using]
    full_key = (connection.vendor, using, key)
    compiled = _cache.get(full_key)
    if compiled is None:
        compiled = _prepare(build, values, using)
        with _lock:
            _cache.setdefault(full_key, compiled)
    params = _params(compiled, values, connection)
    if getattr(settings, "PREPARED_QUERIES_VERIFY", False):
        _verify(key, build, values, using, compiled.sql, params)
    compiler = copy.copy(compiled.compiler)
    compiler.connection = connection
    compiler.as_sql = lambda *args, **kwargs: (compiled.sql, params)
    model: type[Model] = compiler.query.model
    return list(QuerySet(model=model, query=_CompiledQuery(compiler), using=using))
