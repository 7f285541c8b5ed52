"""KQL syntax tree -> DuckDB SQL, one nested SELECT per pipe step, with KQL's semantics.

Column lists come from DuckDB itself (DESCRIBE of the step so far), so every step knows the
exact columns and types it works on. Anything without an exact translation raises
EmulatorError("EMU001", "the emulator does not support ...") at the construct's offset.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..kql import parse
from ..kql.binder import column_name
from ..kql.lexer import T, Token
from ..kql.names import aggregate_name, name_text, path_name, string_literal, string_value
from ..kql.parser import MAX_NESTING, expansion_offset
from ..kql.syntax import Node, operands
from .engine import DUCK_TYPES, EmulatorError, quote_name
from .functions import FUNCTIONS
from .pass_through import as_operator, render, serialize
from .ticks import DATETIME_NS, DatetimeTicks

if TYPE_CHECKING:
    from .engine import Emulator

Columns = list[tuple[str, str]]
_Result = TypeVar("_Result")


def compile_query(engine: Emulator, text: str) -> str:
    result = parse(text)
    if result.diagnostics:
        first = result.diagnostics[0]
        raise EmulatorError("EMU004", f"syntax error: {first.message}", first.start)
    sql = Compiler(engine).query(result.tree)
    if _nesting(sql) > _DEEP_SQL:  # rare: only then ask DuckDB whether it takes the query, to say why not
        _describe(engine, sql)
    return sql


def _describe(engine: Emulator, sql: str) -> Columns:
    """The columns of a query, from DuckDB; its refusal of SQL nested too deep said in our words."""
    try:
        return engine.describe(sql)
    except EmulatorError as error:
        if "max_expression_depth" not in error.message:
            raise
        raise EmulatorError(
            "EMU001",
            "the emulator does not support this query: its SQL nests deeper than DuckDB's limit of 1000 "
            "expression levels (a long chain of one operator that is not and/or/arithmetic, or many let "
            "values built on each other)",
            0,
        ) from None


def _nesting(sql: str) -> int:
    """How deep the brackets of SQL text nest (outside quotes): about how deep DuckDB's expressions do."""
    depth = deepest = 0
    for match in _SQL_BRACKETS.finditer(sql):
        if match.group() == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif match.group() == ")":
            depth -= 1
    return deepest


_SQL_BRACKETS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|[()]""")
# Past this bracket depth compile_query has DuckDB check the query (its limit is 1000 expression levels).
_DEEP_SQL = 250


def _offset(node: Node | Token | None) -> int:
    if isinstance(node, Token):
        return node.start
    token = node.first_token() if node is not None else None
    return token.start if token is not None else 0


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_timespan(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", text)
    if not match:
        raise ValueError(text)
    number, unit = float(match.group(1)), match.group(2)
    seconds = {
        "d": 86400, "day": 86400, "days": 86400, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
        "m": 60, "min": 60, "minute": 60, "minutes": 60, "s": 1, "sec": 1, "second": 1, "seconds": 1,
        "ms": 0.001, "milli": 0.001, "millisecond": 0.001, "milliseconds": 0.001, "microsecond": 1e-6,
        "microseconds": 1e-6, "micro": 1e-6, "tick": 1e-7, "ticks": 1e-7,
    }.get(unit)  # fmt: skip
    if seconds is None:
        raise ValueError(text)
    return dt.timedelta(seconds=number * seconds)


def _interval(delta: dt.timedelta) -> str:
    return f"to_microseconds(CAST({round(delta / dt.timedelta(microseconds=1))} AS BIGINT))"


def _timestamp(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def parse_datetime(text: str) -> dt.datetime:
    cleaned = re.sub(r"\s*-\s*", "-", text.strip().strip("'\"")).replace("Z", "").replace("z", "")
    us_date = re.fullmatch(r"(\d{1,2})-(\d{1,2})-(\d{4})", cleaned)
    if us_date:  # datetime('12-02-2022') is month-day-year
        return dt.datetime(int(us_date.group(3)), int(us_date.group(1)), int(us_date.group(2)))
    listed = re.fullmatch(r"(\d{4}),\s*(\d{1,2}),\s*(\d{1,2})", cleaned)
    if listed:  # datetime(2025, 6, 14)
        return dt.datetime(*(int(part) for part in listed.groups()))
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?", cleaned)
    if iso:
        *parts, fraction = iso.groups()
        digits = (fraction or "").ljust(7, "0")
        if digits[7:].strip("0"):  # below a tick: KQL's rounding is not documented
            raise ValueError(text)
        value = dt.datetime(*(int(part or 0) for part in parts), microsecond=int(digits[:6]))
        if digits[6] == "0":
            return value
        ticked = DatetimeTicks(*value.timetuple()[:6], value.microsecond)
        ticked.extra_ticks = int(digits[6])
        return ticked
    raise ValueError(text)


class Compiler:
    def __init__(self, engine: Emulator):
        self.engine = engine
        self.counter = 0
        self.scalars: dict[str, tuple[str, str]] = {}  # let name -> (sql, type)
        self.tables: dict[str, str] = {}  # let name -> SQL of the relation
        self.functions: dict[str, Node] = {}  # let name -> FunctionDeclaration
        # When each let function was declared (a count), and the one of the same name it hides: a body
        # sees only the functions declared before it (Kusto has no recursion), see visible_before.
        self.declared_at: dict[Node, int] = {}
        self.hidden: dict[Node, Node] = {}
        self.offset = 0  # what to add to the text depths of the function body being compiled (see expand)
        self.inlined = 0  # let function calls inlined so far (see call_function)
        self.options: dict[str, Node] = {}  # set name = value
        self._search_texts: dict[str, str] = {}  # within one `search`: joined columns SQL -> helper column

    def unsupported(self, what: str, node: Node | Token | None) -> EmulatorError:
        return EmulatorError("EMU001", f"the emulator does not support {what}", _offset(node))

    def alias(self) -> str:
        self.counter += 1
        return f"_t{self.counter}"

    def columns(self, sql: str) -> Columns:
        return _describe(self.engine, sql)

    # ----------------------------------------------------------------- statements
    def query(self, tree: Node) -> str:
        last: str | None = None
        for statement in tree["statements"] or []:
            if statement.kind == "LetStatement":
                self.let(statement)
            elif statement.kind in ("SetStatement",):  # kept for the functions that read them (bin_auto)
                parts = [c for c in statement.children if isinstance(c, Node)]
                if len(parts) == 2:
                    self.options[name_text(parts[0])] = parts[1]
                continue
            elif statement.kind in ("DeclareStatement", "OtherStatement"):
                raise self.unsupported("declare/alias statements", statement)
            else:
                last = self.tabular(statement)
        if last is None:
            raise EmulatorError("EMU005", "the query has no tabular result to run", 0)
        return last

    def let(self, statement: Node) -> None:
        name = name_text(statement["name"])
        value: Node = statement["value"]
        if value.kind == "FunctionDeclaration":
            if any(isinstance(c, Token) and c.text == "view" for c in value.children):
                from .plugins import define_view

                return define_view(self, name, value)
            self.declare_function(name, value)
            return
        if self.is_tabular(value):
            sql = self.tabular(value)
            view = f"let_{self.counter}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
            self.counter += 1
            self.engine.connection.execute(f"CREATE OR REPLACE TEMP VIEW {quote_name(view)} AS {sql}")
            self.tables[name] = f"SELECT * FROM {quote_name(view)}"
        else:
            self.scalars[name] = self.expr(value, [])

    def is_tabular(self, node: Node) -> bool:
        kind = node.kind
        if kind in ("Pipe", "DataTable", "ExternalData", "Union", "Range", "Print", "Search", "Evaluate"):
            return True
        if kind == "Parenthesized":
            inner = [c for c in node.children if isinstance(c, Node)]
            return bool(inner) and self.is_tabular(inner[0])
        if kind == "Name":
            name = name_text(node)
            return name in self.tables or (name not in self.scalars and name in self.engine.environment.tables)
        if kind == "Call" and node["callee"].kind == "Name":
            name = name_text(node["callee"])
            if name in self.functions:
                statements = self.functions[name]["statements"] or []
                return bool(statements) and self.expand(node, lambda: self.is_tabular(statements[-1]))
            return name in ("materialize", "view")
        return False

    def declare_function(self, name: str, declaration: Node) -> None:
        self.declared_at[declaration] = len(self.declared_at)
        if name in self.functions:
            self.hidden[declaration] = self.functions[name]
        self.functions[name] = declaration

    def visible_before(self, declaration: Node) -> dict[str, Node]:
        """The let functions declared before `declaration`, by name: what its body may call."""
        when = self.declared_at.get(declaration, len(self.declared_at))
        visible = {}
        for name, function in self.functions.items():
            while function is not None and self.declared_at.get(function, -1) >= when:
                function = self.hidden.get(function)
            if function is not None:
                visible[name] = function
        return visible

    def expand(self, call: Node, body: Callable[[], _Result]) -> _Result:
        """Run `body` on the let function `call` calls, as its body sees names: the functions declared
        before it, at the depth the call expands it to (refused past MAX_NESTING, as the binder does)."""
        name = name_text(call["callee"])
        declaration = self.functions[name]
        offset = expansion_offset(call, declaration, self.offset)
        if offset is None:
            raise self.unsupported(
                f"let functions that nest deeper than {MAX_NESTING} levels when expanded (the call of '{name}')", call
            )
        saved = self.functions, self.offset
        self.functions, self.offset = self.visible_before(declaration), offset
        try:
            return body()
        finally:
            self.functions, self.offset = saved

    def call_function(self, node: Node, columns: Columns, tabular: bool) -> Any:
        """Inline a let function: its parameters become let values for the body, then restored."""
        name = name_text(node["callee"])
        self.inlined += 1
        if self.inlined > _MAX_INLINED:  # functions calling others twice double the work at each level
            raise self.unsupported(f"more than {_MAX_INLINED:,} calls of let functions in one query", node)
        declaration = self.functions[name]
        arguments = list(node["arguments"]["items"] or [])
        saved = (dict(self.scalars), dict(self.tables), dict(self.functions))
        try:
            for index, (parameter, is_table, default) in enumerate(function_parameters(declaration)):
                value = arguments[index] if index < len(arguments) else default
                if value is None:
                    raise EmulatorError("EMU006", f"'{name}' needs a value for '{parameter}'", _offset(node))
                if value.kind == "Assignment":
                    value = value["value"]
                if is_table:
                    self.tables[parameter] = self.tabular(value)
                else:
                    sql, kind = self.expr(value, columns)
                    self.scalars[parameter] = (f"({sql})", kind)
            return self.expand(node, lambda: self.function_body(node, declaration, columns, tabular))
        finally:
            self.scalars, self.tables, self.functions = saved

    def function_body(self, call: Node, declaration: Node, columns: Columns, tabular: bool) -> Any:
        statements = declaration["statements"] or []
        for statement in statements[:-1]:
            if statement.kind == "LetStatement":
                self.let(statement)
        if not statements:
            raise EmulatorError("EMU005", f"'{name_text(call['callee'])}' has an empty body", _offset(call))
        last = statements[-1]
        return self.tabular(last) if tabular else self.expr(last, columns)

    # ----------------------------------------------------------------- tabular expressions
    def tabular(self, node: Node) -> str:
        kind = node.kind
        if kind == "Pipe":
            if node["source"].kind == "MissingSource":
                raise self.unsupported("a query without a source", node)
            sql = self.tabular(node["source"])
            for operator in self.filters_first(list(node["operators"] or [])):
                sql = self.operator(operator, sql)
            return sql
        if kind == "Parenthesized":
            return self.tabular(next(c for c in node.children if isinstance(c, Node)))
        if kind in ("Name", "NamePattern"):
            name = name_text(node) if kind == "Name" else "".join(t.text for t in node.tokens())
            if name in self.tables:
                return self.tables[name]
            if self.engine.ensure_table(name):
                return f"SELECT * FROM {quote_name(name)}"
            raise EmulatorError("EMU003", f"unknown table '{name}' in the emulator", _offset(node))
        if kind == "DataTable":
            return self.datatable(node)
        if kind == "ExternalData":
            return self.externaldata(node)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) in self.functions:
            return self.call_function(node, [], tabular=True)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) in ("materialize", "view"):
            arguments = node["arguments"]["items"] or []
            inner = self.tabular(arguments[0])
            table = f"materialized_{self.counter}"
            self.counter += 1
            self.engine.connection.execute(f"CREATE OR REPLACE TEMP TABLE {quote_name(table)} AS {inner}")
            return f"SELECT * FROM {quote_name(table)}"
        if kind == "Union":
            return self.union(node, None)
        if kind == "Print":
            return self.project(node, None)
        if kind == "Range":
            return self.range(node)
        if kind == "Search":
            return self.search(node, None)
        raise self.unsupported(f"'{node.text().strip()[:40]}' as a table", node)

    def filters_first(self, operators: list[Node]) -> list[Node]:
        """Moves the filters right after an `ipv4_lookup` that read none of its columns ahead of it.

        The lookup keeps or drops each row on its own and filters commute with each other, so the order
        does not change the result; filtering first lets DuckDB combine and reorder the query's filters
        (its numbering of rows for the lookup stops it doing so).
        """
        result = list(operators)
        for index, operator in enumerate(result):
            table = self._named_lookup_table(operator)
            if table is None:
                continue
            following = index + 1
            while following < len(result) and result[following].kind == "Where":
                following += 1
            chain = result[index + 1 : following]
            if any({word.lower() for word in _words(where)} & _ROW_ORDER_FUNCTIONS for where in chain):
                continue
            added = [name for name, _ in self.columns(self.tables[table])]
            ahead = [w for w in chain if not any(word.startswith(name) for word in _words(w) for name in added)]
            behind = [where for where in chain if where not in ahead]
            result[index:following] = [*ahead, operator, *behind]
        return result

    def _named_lookup_table(self, operator: Node) -> str | None:
        """The `let` table of an `evaluate ipv4_lookup(Table, ...)`, else None."""
        if operator.kind != "Evaluate":
            return None
        call = next((c for c in operator.children if isinstance(c, Node) and c.kind == "Call"), None)
        if call is None or name_text(call["callee"]) != "ipv4_lookup":
            return None
        arguments = [a for a in call["arguments"]["items"] or [] if a.kind != "Assignment"]
        if arguments and arguments[0].kind == "Name" and name_text(arguments[0]) in self.tables:
            return name_text(arguments[0])
        return None

    def datatable(self, node: Node) -> str:
        columns = self.declared(node["schema"])
        values = [c for c in node.children if isinstance(c, Node) and c.kind not in ("Schema",)]
        if len(columns) == 0:
            raise self.unsupported("a datatable without columns", node)
        if len(values) % len(columns):
            raise EmulatorError("EMU006", "datatable: the number of values is not a multiple of the columns",
                                _offset(node))  # fmt: skip
        rows = []
        for start in range(0, len(values), len(columns)):
            cells = []
            for (_name, kind), value in zip(columns, values[start : start + len(columns)], strict=True):
                sql, _ = self.expr(value, [])
                cells.append(f"CAST({sql} AS {DUCK_TYPES[kind]})")
            rows.append("(" + ", ".join(cells) + ")")
        if not rows:
            empty = ", ".join(f"CAST(NULL AS {DUCK_TYPES[kind]}) AS {quote_name(name)}" for name, kind in columns)
            return f"SELECT {empty} WHERE false"
        # one VALUES list, not a UNION ALL of rows: DuckDB keeps its order through grouping (make_list)
        names = ", ".join(quote_name(name) for name, _ in columns)
        return f"SELECT * FROM (VALUES {', '.join(rows)}) AS {self.alias()}({names})"

    def declared(self, schema: Node | None) -> Columns:
        columns = []
        for column in (schema["columns"] if schema is not None else []) or []:
            from ..kql.types import normalize_type

            kind = normalize_type(name_text(column.children[-1]))
            columns.append((name_text(column["name"]), "string" if kind == "unknown" else kind))
        return columns

    def externaldata(self, node: Node) -> str:
        columns = self.declared(node["schema"])
        urls = [c for c in node.children if isinstance(c, Node) and c.kind == "Literal"]
        properties = {}
        for child in node.children:
            if isinstance(child, Node) and child.kind == "Properties":
                for item in child.children:
                    if isinstance(item, Node) and item.kind == "Assignment":
                        properties[name_text(item["name"]).lower()] = item["value"].text().strip().strip("'\"")
        rows: list[list[Any]] = []
        for url_node in urls:
            url = "".join(string_value(t.text) for t in url_node.children if isinstance(t, Token))
            path = self.engine.externaldata.get(url)
            if path is None:
                raise EmulatorError(
                    "EMU007", f"externaldata URL '{url}' is not mapped to a local file in this test "
                    "(add it under the test's externaldata:); the emulator never uses the network", _offset(url_node)
                )  # fmt: skip
            rows.extend(self._read_external(path, columns, properties))
        table = f"external_{self.counter}"
        self.counter += 1
        typed = [{name: _typed(value, kind) for (name, kind), value in zip(columns, row, strict=False)} for row in rows]
        self.engine._create_table(table, dict(columns), typed)
        return f"SELECT * FROM {quote_name(table)}"

    def _read_external(self, path, columns: Columns, properties: dict[str, str]) -> list[list[str]]:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EmulatorError("EMU007", f"cannot read externaldata file {path}: {exc.strerror}") from None
        if path.suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                raw = archive.read(archive.namelist()[0])
        text = raw.decode("utf-8-sig")
        fmt = properties.get("format", "csv").lower()
        if fmt == "txt":
            rows = [[line] for line in text.splitlines()]
        else:
            rows = list(csv.reader(io.StringIO(text), delimiter="\t" if fmt in ("tsv", "tsve") else ","))
        if properties.get("ignorefirstrecord", "false").lower() == "true":
            rows = rows[1:]
        return rows

    def range(self, node: Node) -> str:
        name = name_text(node.children[1])
        expressions = [c for c in node.children[2:] if isinstance(c, Node)]
        (start, start_kind), (stop, stop_kind), (step, step_kind) = (self.expr(e, []) for e in expressions[:3])
        # Table functions stream their rows (a list would hold all of them in memory first, past the memory
        # limit), so a huge range stops at the time limit.
        if "real" not in (start_kind, stop_kind, step_kind):
            return (
                f"SELECT _value AS {quote_name(name)} FROM generate_series({start}, {stop}, {step}) AS _range(_value)"
            )
        # With a real bound or step the column is real (as Microsoft's binder types it): start + i * step for
        # every whole i from 0 while the value has not passed the stop.
        first, last, size = (f"CAST({sql} AS DOUBLE)" for sql in (start, stop, step))
        steps = f"CASE WHEN {size} = 0 THEN error('range: the step is 0') ELSE floor(({last} - {first}) / {size}) END"
        return (f"SELECT {first} + _index * {size} AS {quote_name(name)} "
                f"FROM generate_series(0, CAST({steps} AS BIGINT)) AS _range(_index)")  # fmt: skip

    # ----------------------------------------------------------------- operators
    def operator(self, node: Node, sql: str) -> str:
        handler = _OPERATORS.get(node.kind)
        if handler is None:
            word = node.first_token().text if node.first_token() else node.kind
            raise self.unsupported(f"the '{word}' operator", node)
        from .plugins import serialized, uses_row_functions  # also registers row_number, prev, ...

        if uses_row_functions(node):
            return serialized(self, node, sql, handler)
        return handler(self, node, sql)

    def where(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        # A row passes `where A and B` exactly when A and B are both true, so the conjuncts go to DuckDB
        # one by one: it can then push the cheap ones into the scan and run them first.
        conditions = [self.expr(part, columns)[0] for part in _conjuncts(node["predicate"])]
        condition = _filter(" AND ".join(f"({c})" for c in conditions))
        return f"SELECT * FROM ({sql}) AS {self.alias()} WHERE {condition}"

    def extend(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        names = [name for name, _ in columns]
        items = self._items(node)
        selects = {name: quote_name(name) for name in names}
        added: list[str] = []
        counter = [0]
        for item in items:
            name, value = self.named(item, columns, counter)
            if name in selects:
                selects[name] = f"{value} AS {quote_name(name)}"
            else:
                selects[name] = f"{value} AS {quote_name(name)}"
                added.append(name)
        select = [selects[name] if selects[name] != quote_name(name) else quote_name(name) for name in names] + [
            selects[n] for n in added
        ]
        return f"SELECT {', '.join(select)} FROM ({sql}) AS {self.alias()}"

    def project(self, node: Node, sql: str | None) -> str:
        columns = self.columns(sql) if sql is not None else []
        counter = [0]
        selects = []
        for position, item in enumerate(self._items(node)):
            name, value = self.named(item, columns, counter)
            if node.kind == "Print" and item.kind != "Assignment":
                name = f"print_{position}"  # print's unnamed columns are print_0, print_1, ... (a let name too)
            selects.append(f"{value} AS {quote_name(name)}")
        source = f" FROM ({sql}) AS {self.alias()}" if sql is not None else ""
        return f"SELECT {', '.join(selects) or '*'}{source}"

    def _items(self, node: Node) -> list[Node]:
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        return list(lists[0]["items"] or []) if lists else []

    def named(self, item: Node, columns: Columns, counter: list[int]) -> tuple[str, str]:
        if item.kind == "Assignment":
            if item["name"] is None:
                raise self.unsupported("tuple assignments", item)
            sql, _ = self.expr(item["value"], columns)
            return name_text(item["name"]), sql
        sql, _ = self.expr(item, columns)
        from .functions.coverage import existing_column_name  # column_ifexists("X", ...) is named X

        return existing_column_name(self, item, columns) or column_name(item, counter), sql

    def project_names(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        names = [name for name, _ in columns]
        operator = node["operator"]
        patterns = [c for c in node.children if isinstance(c, Node)]
        matched: list[str] = []
        order = [t.text for t in node.children if isinstance(t, Token) and t.text in ("asc", "desc")]
        for pattern in patterns:
            text = "".join(t.text for t in pattern.tokens()) if pattern.kind == "NamePattern" else name_text(pattern)
            regex = re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$")
            found = [n for n in names if regex.match(n) and n not in matched]
            if order:  # project-reorder a* asc: the matched columns sorted by name
                found.sort(reverse=order[0] == "desc")
            matched += found
        if operator == "project-away":
            keep = [n for n in names if n not in matched]
        elif operator == "project-keep":
            keep = [n for n in names if n in matched]
        else:
            keep = matched + [n for n in names if n not in matched]
        return f"SELECT {', '.join(quote_name(n) for n in keep)} FROM ({sql}) AS {self.alias()}"

    def project_rename(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        renames = {}
        for item in self._items(node):
            if item.kind == "Assignment" and item["name"] is not None:
                renames[name_text(item["value"])] = name_text(item["name"])
        select = [f"{quote_name(n)} AS {quote_name(renames.get(n, n))}" for n, _ in columns]
        return f"SELECT {', '.join(select)} FROM ({sql}) AS {self.alias()}"

    def take(self, node: Node, sql: str) -> str:
        count, _ = self.expr(next(c for c in node.children if isinstance(c, Node)), [])
        return f"SELECT * FROM ({sql}) AS {self.alias()} LIMIT {count}"

    def order(self, items: list[Node], columns: Columns) -> str:
        parts = []
        for item in items:
            expression, direction, nulls = item, "DESC", None
            if item.kind == "SortExpression":
                expression = item.children[0]
                words = [t.text for t in item.children[1:] if isinstance(t, Token)]
                if "asc" in words:
                    direction = "ASC"
                if "nulls" in words:
                    nulls = words[words.index("nulls") + 1].upper()
            sql, _ = self.expr(expression, columns)
            nulls = nulls or ("LAST" if direction == "DESC" else "FIRST")
            parts.append(f"{sql} {direction} NULLS {nulls}")
        return ", ".join(parts)

    def sort(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        items = [c for c in node.children[-1].children if isinstance(c, Node)]
        # ties keep their input order, as the reference pages show them
        numbered = f"SELECT *, row_number() OVER () AS __sort_n FROM ({sql}) AS {self.alias()}"
        return (f"SELECT * EXCLUDE (__sort_n) FROM ({numbered}) AS {self.alias()} "
                f"ORDER BY {self.order(items, columns)}, __sort_n")  # fmt: skip

    def top(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        parts = [c for c in node.children if isinstance(c, Node)]
        count, _ = self.expr(parts[0], columns)
        return f"SELECT * FROM ({sql}) AS {self.alias()} ORDER BY {self.order([parts[-1]], columns)} LIMIT {count}"

    def count(self, node: Node, sql: str) -> str:
        return f"SELECT count(*) AS {quote_name('Count')} FROM ({sql}) AS {self.alias()}"

    def distinct(self, node: Node, sql: str) -> str:
        if any(isinstance(c, Token) and c.text == "*" for c in node.children):
            return f"SELECT DISTINCT * FROM ({sql}) AS {self.alias()}"
        columns = self.columns(sql)
        counter = [0]
        selects = [
            f"{value} AS {quote_name(name)}"
            for name, value in (self.named(i, columns, counter) for i in self._items(node))
        ]
        return f"SELECT DISTINCT {', '.join(selects)} FROM ({sql}) AS {self.alias()}"

    def summarize(self, node: Node, sql: str) -> str:
        columns = self.columns(sql)
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        has_by = any(isinstance(c, Token) and c.text == "by" for c in node.children)
        by_first = has_by and all(
            not (isinstance(c, Node) and c.kind == "List") for c in node.children[1 : _index_of_by(node)]
        )
        aggregates = [] if by_first or not lists else list(lists[0]["items"] or [])
        groups = list(lists[-1]["items"] or []) if has_by and lists else []
        counter = [0]
        group_selects, group_exprs, group_names = [], [], []
        for item in groups:
            name, value = self.named(item, columns, counter)
            group_selects.append(f"{value} AS {quote_name(name)}")
            group_exprs.append(value)
            group_names.append(name)
        aggregate_selects: list[str] = []
        taken = set(group_names)
        for item in aggregates:
            for name, value in self.aggregate(item, columns, counter, group_names):
                if name in taken:
                    continue
                taken.add(name)
                aggregate_selects.append(f"{value} AS {quote_name(name)}")
        select = ", ".join(group_selects + aggregate_selects)
        group_by = f" GROUP BY {', '.join(group_exprs)}" if group_exprs else ""
        return f"SELECT {select} FROM ({sql}) AS {self.alias()}{group_by}"

    def aggregate(self, item: Node, columns: Columns, counter: list[int], groups: list[str]) -> list[tuple[str, str]]:
        name = None
        call = item
        if item.kind == "Assignment":
            name, call = name_text(item["name"]), item["value"]
        if call.kind != "Call" or call["callee"].kind != "Name":
            raise self.unsupported("aggregates that are not a function call", call)
        function = name_text(call["callee"])
        arguments = call["arguments"]["items"] or []
        if function in ("arg_max", "arg_min", "argmax", "argmin"):
            order_sql, _ = self.expr(arguments[0], columns)
            which = "arg_max" if "max" in function else "arg_min"
            first_name = name or (path_name(arguments[0]) or "Column1")
            result = [(first_name, f"{'max' if which == 'arg_max' else 'min'}({order_sql})")]
            if name and path_name(arguments[0]):
                result.append((path_name(arguments[0]), f"{'max' if which == 'arg_max' else 'min'}({order_sql})"))
            wanted: list[tuple[str, str]] = []
            for argument in arguments[1:]:
                if argument.kind == "Star":
                    wanted += [(n, quote_name(n)) for n, _ in columns if n not in groups]
                else:
                    value, _ = self.expr(argument, columns)
                    wanted.append((path_name(argument) or "Column1", value))
            result += [(n, f"{which}({v}, {order_sql})") for n, v in wanted]
            return result
        if function in ("take_anyif", "anyif"):
            from .functions.coverage import take_anyif

            return take_anyif(self, function, arguments, columns, call, name)
        sql = self.aggregate_sql(function, arguments, columns, call)
        return [(name or aggregate_name(function, arguments), sql)]

    def aggregate_sql(self, function: str, arguments: list[Node], columns: Columns, call: Node) -> str:
        values = [self.expr(a, columns)[0] for a in arguments if a.kind != "Star"]
        if function == "count":  # count(expr) counts rows like count() (summarize docs)
            return "count(*)"
        if function == "countif":
            return f"count_if({values[0]})"
        if function in ("dcount", "count_distinct"):
            return f"count(DISTINCT {values[0]})"
        if function in ("dcountif", "count_distinctif"):
            return f"count(DISTINCT CASE WHEN {values[1]} THEN {values[0]} END)"
        if function in ("sum", "min", "max", "avg"):
            return f"{function}({values[0]})"
        if function in ("sumif", "minif", "maxif", "avgif"):
            return f"{function[:-2]}(CASE WHEN {values[1]} THEN {values[0]} END)"
        if function in ("any", "take_any") and values:
            return f"any_value({values[0]})"
        if function in ("make_set", "makeset", "make_list", "makelist", "make_set_if", "make_list_if"):
            value = values[0]
            condition = f" AND ({values[1]})" if function.endswith("_if") else ""
            if self.expr(arguments[0], columns)[1] == "dynamic":  # arrays add their elements (make_set docs)
                elements = f"CASE WHEN json_type({value}) = 'ARRAY' THEN CAST({value} AS JSON[]) ELSE [{value}] END"
                listed = f"flatten(list({elements}) FILTER (WHERE {value} IS NOT NULL{condition}))"
            else:
                listed = f"list({value}) FILTER (WHERE {value} IS NOT NULL{condition})"
            if "set" in function:  # distinct values, in the order first seen
                listed = f"kql_first_seen({listed})"
            return f"coalesce(to_json({listed}), '[]')"
        from .functions.misc import aggregate_sql  # variance, stdev, make_bag, binary_all_*, buildschema

        added = aggregate_sql(self, function, arguments, columns, call)
        if added is not None:
            return added
        raise self.unsupported(f"the aggregate '{function}'", call)

    def join(self, node: Node, sql: str) -> str:
        left_columns = self.columns(sql)
        right_sql = self.tabular(node["right"])
        right_columns = self.columns(right_sql)
        kind = "innerunique"
        for child in node.children:
            if isinstance(child, Node) and child.kind == "Parameter":
                tokens = list(child.tokens())
                if tokens[0].text == "kind":
                    kind = tokens[2].text.lower()
        conditions = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        if not conditions:
            raise self.unsupported("join without 'on' keys", node)
        pairs: list[tuple[str, str]] = []
        for condition in conditions[0]["items"] or []:
            pairs += self.join_keys(condition)
        lookup = node.kind == "Lookup"
        if lookup and kind == "innerunique":
            kind = "leftouter"
        left_alias, right_alias = self.alias(), self.alias()
        on = " AND ".join(f"{left_alias}.{quote_name(l)} = {right_alias}.{quote_name(r)}" for l, r in pairs)  # noqa: E741
        left_source = sql
        if kind == "innerunique":  # Kusto de-duplicates the left side on the join keys
            keys = ", ".join(quote_name(l) for l, _ in pairs)  # noqa: E741
            left_source = f"SELECT * FROM ({sql}) AS {self.alias()} QUALIFY row_number() OVER (PARTITION BY {keys}) = 1"
            kind = "inner"
        if kind in ("leftsemi", "leftanti", "semi", "anti", "leftantisemi"):
            negate = "NOT " if "anti" in kind else ""
            return (f"SELECT {left_alias}.* FROM ({left_source}) AS {left_alias} WHERE {negate}EXISTS "
                    f"(SELECT 1 FROM ({right_sql}) AS {right_alias} WHERE {on})")  # fmt: skip
        if kind in ("rightsemi", "rightanti", "rightantisemi"):
            negate = "NOT " if "anti" in kind else ""
            return (f"SELECT {right_alias}.* FROM ({right_sql}) AS {right_alias} WHERE {negate}EXISTS "
                    f"(SELECT 1 FROM ({left_source}) AS {left_alias} WHERE {on})")  # fmt: skip
        sql_kind = {
            "inner": "JOIN",
            "leftouter": "LEFT JOIN",
            "rightouter": "RIGHT JOIN",
            "fullouter": "FULL JOIN",
        }.get(kind)
        if sql_kind is None:
            raise self.unsupported(f"join kind={kind}", node)
        left_nullable = kind in ("rightouter", "fullouter")
        right_nullable = kind in ("leftouter", "fullouter")
        selects, names = [], set()
        for name, type_ in left_columns:
            selects.append(
                f"{_nonnull(f'{left_alias}.{quote_name(name)}', type_, left_nullable)} AS {quote_name(name)}"
            )
            names.add(name)
        right_keys = {r for _, r in pairs}
        for name, type_ in right_columns:
            if lookup and name in right_keys:
                continue
            target = name
            suffix = 1
            while target in names:
                target = f"{name}{suffix}"
                suffix += 1
            names.add(target)
            selects.append(
                f"{_nonnull(f'{right_alias}.{quote_name(name)}', type_, right_nullable)} AS {quote_name(target)}"
            )
        return (f"SELECT {', '.join(selects)} FROM ({left_source}) AS {left_alias} {sql_kind} ({right_sql}) "
                f"AS {right_alias} ON {on}")  # fmt: skip

    def join_keys(self, condition: Node) -> list[tuple[str, str]]:
        return [pair for part in operands(condition, ("and",)) for pair in self.join_key(part)]

    def join_key(self, condition: Node) -> list[tuple[str, str]]:
        if condition.kind == "Name":
            name = name_text(condition)
            return [(name, name)]
        if condition.kind == "BinaryExpression":
            op = condition["op"].text
            if op == "==":
                sides = {}
                for side in (condition["left"], condition["right"]):
                    if side.kind == "MemberAccess" and name_text(side["target"]) in ("$left", "$right"):
                        sides[name_text(side["target"])] = name_text(side["member"])
                if len(sides) == 2:
                    return [(sides["$left"], sides["$right"])]
        raise self.unsupported("this join condition (use Key or $left.A == $right.B)", condition)

    def union(self, node: Node, sql: str | None) -> str:
        from .plugins import union

        return union(self, node, sql)

    def _strings_not_null(self, sql: str) -> str:
        columns = self.columns(sql)
        selects = [f"{_nonnull(quote_name(n), t, True)} AS {quote_name(n)}" for n, t in columns]
        return f"SELECT {', '.join(selects)} FROM ({sql}) AS {self.alias()}"

    def union_operator(self, node: Node, sql: str) -> str:
        return self.union(node, sql)

    def search(self, node: Node, sql: str | None) -> str:
        tables = next((c for c in node.children if isinstance(c, Node) and c.kind == "Tables"), None)
        parts = []
        if tables is not None:
            for child in tables.children:
                if isinstance(child, Node):
                    name = child.text().strip()
                    parts.append(
                        f'SELECT {_string(name)} AS "$table", * FROM ({self.tabular(child)}) AS {self.alias()}'
                    )
            source = " UNION ALL BY NAME ".join(parts)
        elif sql is not None:
            source = sql
        else:
            raise self.unsupported("search without 'in (Table, ...)'", node)
        columns = self.columns(source)
        predicate = [c for c in node.children if isinstance(c, Node) and c.kind not in ("Tables", "Parameter")][-1]
        outer_texts = self._search_texts
        self._search_texts = {}  # concatenation SQL -> its helper column
        try:
            condition = _filter(self.search_predicate(predicate, columns))
            helpers = ", ".join(f"{text} AS {name}" for text, name in self._search_texts.items())
            hidden = ", ".join(self._search_texts.values())
        finally:
            self._search_texts = outer_texts
        if not helpers:
            return f"SELECT * FROM ({source}) AS {self.alias()} WHERE {condition}"
        # Each row's searched columns joined once, with a separator no term contains, instead of one regex
        # per column and term: a term is in some column exactly when it is in the joined text.
        return (f"SELECT * EXCLUDE ({hidden}) FROM (SELECT *, {helpers} FROM ({source}) AS {self.alias()}) "
                f"AS {self.alias()} WHERE {condition}")  # fmt: skip

    def search_predicate(self, node: Node, columns: Columns) -> str:
        """`and`/`or` of terms; a run of one of them is one flat SQL conjunction (see chain)."""
        if node.kind == "BinaryExpression" and node["op"].text in ("and", "or"):
            op = node["op"].text
            parts = [self.search_predicate(part, columns) for part in operands(node, (op,))]
            return "(" + f" {op.upper()} ".join(parts) + ")"
        return self.search_term(node, columns)

    def search_term(self, node: Node, columns: Columns) -> str:
        if node.kind == "Literal" and node["literal"] == "string":
            term = "".join(string_value(t.text) for t in node.children if isinstance(t, Token))
            if "*" in term:
                raise self.unsupported("wildcards in search terms", node)
            # any column holding the term; the cheap substring test runs first
            # a term with a letter cannot be in a number's, a date's or a bool's text: skip those columns
            textual = ("string", "dynamic", "guid", "unknown") if re.search(r"[A-Za-z]", term) else None
            texts = [f"CAST({quote_name(n)} AS VARCHAR)" for n, kind in columns
                     if n != "$table" and (textual is None or kind in textual)]  # fmt: skip
            like = _string("%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            if not texts:
                return "false"
            if _SEARCH_SEPARATOR not in term:
                joined = f"concat_ws({_string(_SEARCH_SEPARATOR)}, {', '.join(texts)})"
                name = self._search_texts.setdefault(joined, f'"__search{len(self._search_texts)}"')
                texts = [name]
            checks = [f"({t} ILIKE {like} ESCAPE '\\' AND kql_has({t}, {_string(term)}))" for t in texts]
            return "(" + " OR ".join(checks) + ")"
        if node.kind == "BinaryExpression" and node["op"].text == ":":
            column, _ = self.expr(node["left"], columns)
            value, _ = self.expr(node["right"], columns)
            return f"kql_has(CAST({column} AS VARCHAR), {value})"
        sql, _ = self.expr(node, columns)
        return sql

    def search_operator(self, node: Node, sql: str) -> str:
        return self.search(node, sql)

    def evaluate(self, node: Node, sql: str) -> str:
        call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
        name = name_text(call["callee"]) if call is not None else ""
        from .plugins import PLUGINS  # plugins.py imports this module's types: imported late

        if call is not None and name in PLUGINS:
            return PLUGINS[name](self, node, call, sql)
        from .functions.geo_shapes import LOOKUP_PLUGINS

        if call is not None and name in LOOKUP_PLUGINS:
            return LOOKUP_PLUGINS[name](self, node, call, sql)
        if name != "ipv4_lookup":
            raise self.unsupported(f"the plugin '{name or '?'}'", call or node)
        arguments = call["arguments"]["items"] or []
        positional = [a for a in arguments if a.kind != "Assignment"]
        options = {name_text(a["name"]): a["value"].text().strip() for a in arguments if a.kind == "Assignment"}
        lookup_sql = self.tabular(positional[0])
        left_columns, lookup_columns = self.columns(sql), self.columns(lookup_sql)
        left, right = self.alias(), self.alias()
        ip_sql, _ = self.expr(positional[1], left_columns)
        ip_sql = ip_sql.replace(
            quote_name(path_name(positional[1])), f"{left}.{quote_name(path_name(positional[1]))}", 1
        )
        range_column = quote_name(path_name(positional[2]))
        keep_unmatched = options.get("return_unmatched", "false").lower() == "true"
        selects = [f"{left}.{quote_name(n)} AS {quote_name(n)}" for n, _ in left_columns]
        names = {n for n, _ in left_columns}
        for name, type_ in lookup_columns:
            target, suffix = name, 1
            while target in names:
                target, suffix = f"{name}{suffix}", suffix + 1
            names.add(target)
            selects.append(f"{_nonnull(f'{right}.{quote_name(name)}', type_, True)} AS {quote_name(target)}")
        join = "LEFT JOIN" if keep_unmatched else "JOIN"
        # Addresses and ranges as numbers once, so that DuckDB can run a range join.
        numbered = f"SELECT *, row_number() OVER () AS __rid FROM ({sql}) AS {self.alias()}"
        numbered = f"SELECT *, kql_ipv4({ip_sql.replace(f'{left}.', '')}) AS __ipn FROM ({numbered}) AS {self.alias()}"
        ranges = (f"SELECT *, kql_cidr_start({range_column}) AS __first, kql_cidr_end({range_column}) AS __last, "
                  f"kql_cidr_prefix({range_column}) AS __prefix FROM ({lookup_sql}) AS {self.alias()}")  # fmt: skip
        return (
            f"SELECT {', '.join(selects)} FROM ({numbered}) AS {left} {join} ({ranges}) AS {right} "
            f"ON {left}.__ipn BETWEEN {right}.__first AND {right}.__last "
            f"QUALIFY row_number() OVER (PARTITION BY {left}.__rid ORDER BY {right}.__prefix DESC NULLS LAST) = 1"
        )

    def parse(self, node: Node, sql: str) -> str:
        """parse [kind=simple|regex] Source with "text" Name:type * ... (and parse-where).

        The pattern becomes one RE2 expression: literals escaped (regex kind: as written),
        `*` skips text, a column captures text; the last column takes the rest of the string.
        Values that do not convert to the column's type become null; with parse-where, rows that
        do not match are dropped.
        """
        columns = self.columns(sql)
        parameters = {}
        for child in node.children:
            if isinstance(child, Node) and child.kind == "Parameter":
                tokens = [t.text for t in child.tokens()]
                parameters[tokens[0]] = tokens[-1]
        kind = parameters.get("kind", "simple").lower()
        if kind not in ("simple", "regex") or "flags" in parameters:
            raise self.unsupported(f"parse kind={kind}" + (" with flags" if "flags" in parameters else ""), node)
        source_node = next(c for c in node.children if isinstance(c, Node) and c.kind not in ("Parameter",))
        source, source_kind = self.expr(source_node, columns)
        source = self.as_string(source, source_kind)
        pattern = next(c for c in node.children if isinstance(c, Node) and c.kind == "ParsePattern")
        parts = [p for p in pattern.children if not (isinstance(p, Token) and p.text == ",")]
        regex, captures = "", []
        index = 0
        while index < len(parts):
            part = parts[index]
            if isinstance(part, Token) and part.kind is T.STRING:
                text = string_value(part.text)
                if kind == "regex":
                    from .plugins import non_capturing

                    try:
                        regex += non_capturing(text)
                    except ValueError:
                        raise self.unsupported("named groups in a parse regex", part) from None
                else:
                    regex += re.escape(text)
            elif isinstance(part, Token) and part.text == "*":
                regex += ".*?"
            elif isinstance(part, Node) and part.kind == "Name":
                type_ = "string"
                if index + 2 < len(parts) and isinstance(parts[index + 1], Token) and parts[index + 1].text == ":":
                    from ..kql.types import normalize_type

                    type_ = normalize_type(name_text(parts[index + 2]))
                    index += 2
                captures.append((name_text(part), type_))
                group = _PARSE_GROUPS.get(type_)
                if group is None:
                    raise self.unsupported(f"parse into a {type_} column", part)
                if kind == "regex" and group == "(.*?)":  # regex mode is greedy unless flags=U (parse docs)
                    group = "(.*)"
                regex += group
            else:
                raise self.unsupported("this parse pattern", part if isinstance(part, Node) else node)
            index += 1
        if captures and captures[-1][1] == "string" and regex.endswith("(.*?)"):
            regex = regex[: -len("(.*?)")] + "(.*)"
        anchored = "^" + regex + ("$" if not regex.endswith((".*?", "(.*)")) else "")
        pattern_sql = _string(anchored)
        names = [name for name, _ in columns]
        selects = [quote_name(n) for n in names if n not in {c for c, _ in captures}]
        for number, (name, type_) in enumerate(captures, start=1):
            value = f"regexp_extract({source}, {pattern_sql}, {number})"
            matched = f"regexp_matches({source}, {pattern_sql})"
            if type_ == "string":
                selects.append(f"CASE WHEN {matched} THEN {value} ELSE '' END AS {quote_name(name)}")
            else:
                cast = f"TRY_CAST({value} AS {DUCK_TYPES.get(type_, 'VARCHAR')})"
                if type_ == "datetime":
                    from .plugins import datetime_from_text

                    cast = datetime_from_text(value)
                selects.append(f"CASE WHEN {matched} THEN {cast} END AS {quote_name(name)}")
        where = f" WHERE regexp_matches({source}, {pattern_sql})" if node.first_token().text == "parse-where" else ""
        return f"SELECT {', '.join(selects)} FROM ({sql}) AS {self.alias()}{where}"

    def make_series(self, node: Node, sql: str) -> str:
        from .make_series import make_series

        return make_series(self, node, sql)

    def mv_expand(self, node: Node, sql: str) -> str:
        from .plugins import mv_expand

        return mv_expand(self, node, sql)

    def mv_apply(self, node: Node, sql: str) -> str:
        from .plugins import mv_apply

        return mv_apply(self, node, sql)

    def project_by_names(self, node: Node, sql: str) -> str:
        from .plugins import project_by_names

        return project_by_names(self, node, sql)

    def invoke(self, node: Node, sql: str) -> str:
        from .plugins import invoke

        return invoke(self, node, sql)

    def parse_kv(self, node: Node, sql: str) -> str:
        from .plugins import parse_kv

        return parse_kv(self, node, sql)

    def top_nested(self, node: Node, sql: str) -> str:
        from .plugins import top_nested

        return top_nested(self, node, sql)

    def loose_operator(self, node: Node, sql: str) -> str:
        from .plugins import LOOSE_OPERATORS

        handler = LOOSE_OPERATORS.get(node["operator"])
        if handler is None:
            raise self.unsupported(f"the '{node['operator']}' operator", node)
        return handler(self, node, sql)

    # ----------------------------------------------------------------- expressions
    def expr(self, node: Node, columns: Columns) -> tuple[str, str]:
        if node.kind in _CHAIN_LINKS:
            return self.chain(node, columns)
        method = _EXPRESSIONS.get(node.kind)
        if method is None:
            raise self.unsupported(f"the expression '{node.text().strip()[:40]}'", node)
        return self.bounded(method(self, node, columns), node)

    def bounded(self, value: tuple[str, str], node: Node) -> tuple[str, str]:
        """Some translations repeat an operand (a comparison with a value that may be null names it three
        times): nested, the SQL would grow exponentially. Past _MAX_SQL characters it is refused."""
        if len(value[0]) > _MAX_SQL:
            raise self.unsupported(
                f"this expression: its SQL would pass {_MAX_SQL // 1_000_000} MB (operands repeated by nested "
                "comparisons, property accesses or let values)",
                node,
            )
        return value

    def e_literal(self, node: Node, columns: Columns) -> tuple[str, str]:
        literal = node["literal"]
        tokens = [t for t in node.children if isinstance(t, Token)]
        if literal == "string":
            return _string("".join(string_value(t.text) for t in tokens)), "string"
        if literal == "number":
            text = tokens[0].text
            if text.lower().startswith("0x"):
                return f"CAST({int(text, 16)} AS BIGINT)", "long"
            if any(c in text for c in ".eE"):
                return f"CAST({text} AS DOUBLE)", "real"
            return f"CAST({text} AS BIGINT)", "long"
        if literal == "timespan":
            return _interval(parse_timespan(tokens[0].text)), "timespan"
        if literal == "typed_literal":
            return self.typed_literal(tokens[0], node)
        if literal == "dynamic":
            value = self.json_value(next(c for c in node.children if isinstance(c, Node)))
            return f"CAST({_string(json.dumps(value))} AS JSON)", "dynamic"
        raise self.unsupported("this literal", node)

    def typed_literal(self, token: Token, node: Node) -> tuple[str, str]:
        word, _, rest = token.text.partition("(")
        word, inner = word.strip(), rest.rsplit(")", 1)[0].strip()
        kind = {"date": "datetime", "time": "timespan", "double": "real", "boolean": "bool"}.get(word, word)
        if inner == "null":
            return f"CAST(NULL AS {DUCK_TYPES.get(kind, 'VARCHAR')})", kind
        try:
            if kind == "datetime":
                value = parse_datetime(inner)
                if getattr(value, "extra_ticks", 0):  # a seventh fractional digit (ticks.py)
                    return f"TIMESTAMP_NS '{value.isoformat(sep=' ')}'", DATETIME_NS
                return _timestamp(value), "datetime"
            if kind == "timespan":
                if re.fullmatch(r"\d+(\.\d+)?[a-z]+", inner):
                    return _interval(parse_timespan(inner)), "timespan"
                match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", inner)
                if match:
                    days, hours, minutes, seconds = match.groups()
                    delta = dt.timedelta(
                        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
                    )
                    return _interval(delta), "timespan"
            if kind in ("int", "long"):
                return f"CAST({int(inner)} AS {DUCK_TYPES[kind]})", kind
            if kind in ("real", "decimal"):
                return f"CAST({float(inner)} AS DOUBLE)", "real"
            if kind == "bool":
                return ("true" if inner.lower() == "true" else "false"), "bool"
            if kind == "guid":
                return _string(inner.lower()), "guid"
        except ValueError:
            pass
        raise EmulatorError("EMU006", f"cannot read the literal {token.text}", token.start)

    def json_typed(self, token: Token, node: Node) -> Any:
        """A typed literal inside dynamic(): numbers and bools as JSON values, a datetime as the string
        tostring() gives, guids as strings; the rest (timespans) is refused."""
        word, _, rest = token.text.partition("(")
        inner = rest.rsplit(")", 1)[0].strip()
        word = word.strip()
        if inner == "null":
            return None
        try:
            if word in ("datetime", "date"):
                value = parse_datetime(inner)
                return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}" + (
                    f"{getattr(value, 'extra_ticks', 0)}Z")  # fmt: skip
            if word in ("int", "long"):
                return int(inner)
            if word in ("real", "double"):
                return float(inner)
            if word in ("bool", "boolean") and inner.lower() in ("true", "false"):
                return inner.lower() == "true"
            if word == "guid":
                return inner.lower()
        except ValueError:
            pass
        raise self.unsupported(f"'{token.text}' inside dynamic()", node)

    def json_value(self, node: Node) -> Any:
        if node.kind == "JsonContainer":
            opener = node.children[0].text
            values = [c for c in node.children if isinstance(c, Node)]
            if opener == "[":
                return [self.json_value(v) for v in values]
            keys = [string_value(t.text) for t in node.children if isinstance(t, Token) and t.kind is T.STRING]
            return {k: self.json_value(v) for k, v in zip(keys, values, strict=True)}
        if node.kind == "Literal" and node["literal"] == "dynamic":  # dynamic({...}) nested in a dynamic
            return self.json_value(next(c for c in node.children if isinstance(c, Node)))
        tokens = [t for t in node.tokens()]
        text = "".join(t.text for t in tokens)
        if tokens and tokens[0].kind is T.STRING:
            return "".join(string_value(t.text) for t in tokens)
        if len(tokens) == 1 and tokens[0].kind is T.TYPED_LITERAL:
            return self.json_typed(tokens[0], node)
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise self.unsupported(f"'{text}' inside dynamic()", node) from None

    def e_name(self, node: Node, columns: Columns) -> tuple[str, str]:
        name = name_text(node)
        for column, type_ in columns:
            if column == name:
                return quote_name(name), type_
        if name in self.scalars:
            return self.scalars[name]
        if name in ("true", "false"):
            return name, "bool"
        if name == "null":
            return "NULL", "unknown"
        raise EmulatorError("EMU003", f"unknown name '{name}' in the emulator", _offset(node))

    def e_parenthesized(self, node: Node, columns: Columns) -> tuple[str, str]:
        inner = next(c for c in node.children if isinstance(c, Node))
        if self.is_tabular(inner):
            return self.scalar_subquery(inner)
        sql, kind = self.expr(inner, columns)
        return f"({sql})", kind

    def scalar_subquery(self, node: Node) -> tuple[str, str]:
        sql = self.tabular(node)
        columns = self.columns(sql)
        return f"(SELECT {quote_name(columns[0][0])} FROM ({sql}) AS {self.alias()} LIMIT 1)", columns[0][1]

    def e_unary(self, node: Node, columns: Columns) -> tuple[str, str]:
        sql, kind = self.expr(node["operand"], columns)
        return (f"(-{sql})" if node["op"].text == "-" else sql), kind

    def e_member(self, node: Node, columns: Columns) -> tuple[str, str]:
        base, kind = self.expr(node["target"], columns)
        if kind != "dynamic":
            base = f"kql_parse_json({base})" if kind == "string" else base
        member = name_text(node["member"]).replace('"', '\\"')
        return f"json_extract({base}, '$.\"{member}\"')", "dynamic"

    def e_element(self, node: Node, columns: Columns) -> tuple[str, str]:
        base, kind = self.expr(node["target"], columns)
        if kind == "string":
            base = f"kql_parse_json({base})"
        index, index_kind = self.expr(node["index"], columns)
        if index_kind == "string":
            return f"json_extract({base}, '$.\"' || {index} || '\"')", "dynamic"
        return (f"json_extract({base}, CASE WHEN {index} < 0 THEN '$[#' || {index} || ']' "
                f"ELSE '$[' || {index} || ']' END)"), "dynamic"  # fmt: skip

    def as_string(self, sql: str, kind: str) -> str:
        if kind == "dynamic":
            return f"kql_json_str({sql})"
        if kind == "string":
            return sql
        if kind in ("datetime", DATETIME_NS):  # tostring(datetime): ISO 8601 with seven fractional digits
            digits = "%f'), 26) || '0Z'" if kind == "datetime" else "%n'), 27) || 'Z'"
            return f"coalesce(left(strftime({sql}, '%Y-%m-%dT%H:%M:%S.{digits}, '')"
        return f"kql_str({sql})"

    def chain(self, node: Node, columns: Columns) -> tuple[str, str]:
        """Binary, `in` and `between` operators nest on the left as deep as a chain (`a or b or c ...`) is
        long: compile the innermost left operand, then each operator outwards, in a loop. A run of one of
        `and`/`or` becomes one flat SQL conjunction, a long run of `+`/`-` (or of `*`/`/`/`%`) a fold:
        DuckDB refuses SQL expressions nested deeper than 1000."""
        links: list[Node] = []
        while node.kind in _CHAIN_LINKS:
            links.append(node)
            node = node["left"]
        links.reverse()  # innermost first: the order of evaluation
        value = self.expr(node, columns)
        index = 0
        while index < len(links):
            run = _run(links, index)
            group = _group(links[index])
            if group in ("and", "or"):
                value = self.logical(group, value, run, columns)
            elif group in _FOLDABLE and len(run) > _FOLD_AFTER:
                value = self.fold(value, run, columns)
            else:
                for link in run:
                    value = self.bounded(_CHAIN_LINKS[link.kind](self, link, *value, columns), link)
            index += len(run)
        return self.bounded(value, links[-1])

    def logical(self, op: str, left: tuple[str, str], run: list[Node], columns: Columns) -> tuple[str, str]:
        """`a or b or c`: one flat `(coalesce(a, false) OR ...)`; a null bool counts as false in and/or
        (logical operators docs)."""
        terms = [left[0], *(self.expr(link["right"], columns)[0] for link in run)]
        return "(" + f" {op.upper()} ".join(f"coalesce({term}, false)" for term in terms) + ")", "bool"

    def fold(self, left: tuple[str, str], run: list[Node], columns: Columns) -> tuple[str, str]:
        """A long run of arithmetic (`1 + 2 - 3 + ... 10000`) as list_reduce over the right operands: the
        same operations in the same order, without SQL nesting one level per operator. The first step is
        written out; after it every step must keep the running value's type, as it does when all right
        operands have one type (else the run is refused)."""
        ops = [link["op"].text for link in run]
        rights = [self.expr(link["right"], columns) for link in run]
        kinds = {kind for _, kind in rights}
        first, kind = self.arithmetic(ops[0], *left, *rights[0])
        distinct = sorted(set(ops[1:]))
        steps = [self.arithmetic(op, "_kql_acc", kind, "_kql_x.v", rights[0][1]) for op in distinct]
        if len(kinds) > 1 or any(step_kind != kind for _, step_kind in steps):
            raise self.unsupported(
                f"a chain of more than {_FOLD_AFTER} arithmetic operators whose operands are not all of one type",
                run[0]["op"],
            )
        pairs = zip(ops[1:], rights[1:], strict=True)
        items = ", ".join(f"{{'o': {distinct.index(op)}, 'v': {right}}}" for op, (right, _) in pairs)
        step = "CASE _kql_x.o " + " ".join(f"WHEN {i} THEN {sql}" for i, (sql, _) in enumerate(steps)) + " END"
        return f"list_reduce([{items}], lambda _kql_acc, _kql_x: {step}, {first})", kind

    def binary(self, node: Node, left: str, left_kind: str, columns: Columns) -> tuple[str, str]:
        """One binary operator, its left operand compiled (see chain)."""
        op = node["op"].text
        right, right_kind = self.expr(node["right"], columns)
        if op in ("==", "!=", "<>", "="):
            left, right = self.comparable(left, left_kind, right, right_kind)
            # two nulls give null; null and a value are unequal, on either side (null values docs)
            equal = op in ("==", "=")
            unequal = "false" if equal else "true"
            if _is_literal(node["right"]):  # a literal is never null
                return f"coalesce({left} {'=' if equal else '<>'} {right}, {unequal})", "bool"
            return (f"(CASE WHEN {left} IS NULL AND {right} IS NULL THEN NULL WHEN {left} IS NULL OR {right} IS NULL "
                    f"THEN {unequal} ELSE {left} {'=' if equal else '<>'} {right} END)"), "bool"  # fmt: skip
        if op in ("<", "<=", ">", ">="):
            left, right = self.comparable(left, left_kind, right, right_kind)
            return f"({left} {op} {right})", "bool"
        if op in ("=~", "!~"):
            sql = f"(lower({self.as_string(left, left_kind)}) = lower({self.as_string(right, right_kind)}))"
            return (sql if op == "=~" else f"(NOT {sql})"), "bool"
        string_ops = _STRING_OPERATORS.get(op.lstrip("!"))
        if string_ops is not None:
            sql = string_ops(self.as_string(left, left_kind), self.as_string(right, right_kind))
            return (f"(NOT {sql})" if op.startswith("!") else sql), "bool"
        if op == "matches":
            return f"regexp_matches({self.as_string(left, left_kind)}, {right})", "bool"
        if op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(op, left, left_kind, right, right_kind)
        raise self.unsupported(f"the operator '{op}'", node["op"])

    def comparable(self, left: str, left_kind: str, right: str, right_kind: str) -> tuple[str, str]:
        if left_kind == "dynamic" and right_kind != "dynamic":
            left = self.from_dynamic(left, right_kind)
        elif right_kind == "dynamic" and left_kind != "dynamic":
            right = self.from_dynamic(right, left_kind)
        elif left_kind == "string" and right_kind in ("long", "int", "real"):
            left = f"TRY_CAST({left} AS DOUBLE)"
        elif right_kind == "string" and left_kind in ("long", "int", "real"):
            right = f"TRY_CAST({right} AS DOUBLE)"
        return left, right

    def from_dynamic(self, sql: str, kind: str) -> str:
        if kind in ("string", "guid", "unknown"):
            return f"kql_json_str({sql})"
        return f"TRY_CAST(kql_json_str({sql}) AS {DUCK_TYPES.get(kind, 'VARCHAR')})"

    def arithmetic(self, op: str, left: str, left_kind: str, right: str, right_kind: str) -> tuple[str, str]:
        if DATETIME_NS in (left_kind, right_kind):  # DuckDB would round the 100 ns tick away (ticks.py)
            raise self.unsupported("arithmetic on a datetime with 100 ns ticks (as endofday() gives)", None)
        integers = ("long", "int")
        if op == "/" and left_kind in integers and right_kind in integers:
            return f"({left} // {right})", "long"  # KQL divides longs as longs
        if left_kind == "datetime" and right_kind == "datetime" and op == "-":
            return f"({left} - {right})", "timespan"
        if left_kind == "timespan" and right_kind == "timespan" and op == "/":  # a ratio: 2d / 1d == 2.0
            divisor = f"epoch_us({right})"
            refuse = "error('the emulator does not support dividing by a zero timespan')"
            ratio = f"CAST(epoch_us({left}) AS DOUBLE) / {divisor}"
            return f"(CASE WHEN {divisor} = 0 THEN {refuse} ELSE {ratio} END)", "real"
        kind = left_kind if left_kind in ("datetime", "timespan") else right_kind if right_kind in (
            "datetime", "timespan") else ("real" if "real" in (left_kind, right_kind) else left_kind)  # fmt: skip
        return f"({left} {op} {right})", kind

    def in_list(self, node: Node, left: str, left_kind: str, columns: Columns) -> tuple[str, str]:
        """`in`, `!in`, `in~`, `has_any`, ... with the left operand compiled (see chain)."""
        op = node["op"].text
        items = (
            [c for c in node["right"].children if isinstance(c, Node)]
            if node["right"].kind == "ExpressionList"
            else [node["right"]]
        )
        negate = op.startswith("!")
        base = op.lstrip("!")
        left_text = self.as_string(left, left_kind)
        needles = [string_literal(item) for item in items] if base == "has_any" else []
        if len(needles) > _FEW_TERMS and None not in needles:
            sql = _has_any_of(left_text, [needle for needle in needles if needle is not None])
            return (f"(NOT {sql})" if negate else sql), "bool"
        if base in ("has_any", "has_all"):
            checks = []
            for item in items:
                checks.append(self.term_check(left_text, item, columns, base))
            joiner = " OR " if base == "has_any" else " AND "
            sql = "(" + joiner.join(checks) + ")"
            return (f"(NOT {sql})" if negate else sql), "bool"
        insensitive = base == "in~"
        values = []
        listed: list[str] = []  # each item's SQL while all are scalars of the left operand's type
        for item in items:
            if self.is_tabular(item):
                sub = self.tabular(item)
                first = self.columns(sub)[0][0]
                column = f"lower(kql_str({quote_name(first)}))" if insensitive else quote_name(first)
                values.append(f"SELECT {column} FROM ({sub}) AS {self.alias()}")
                continue
            sql, kind = self.expr(item, columns)
            if kind == "dynamic":
                array = f"from_json({sql}, '[\"VARCHAR\"]')"
                values.append(
                    f"SELECT unnest({array if not insensitive else f'list_transform({array}, lambda x: lower(x))'})"
                )
            else:
                value = f"lower({self.as_string(sql, kind)})" if insensitive else sql
                values.append(f"SELECT {value}")
                if insensitive or kind == left_kind:
                    listed.append(value)
        target = (
            f"lower({left_text})" if insensitive else (left_text if any("from_json" in v for v in values) else left)
        )
        # A plain value list means the same as the union of one-row selects (nulls included) and DuckDB
        # plans it far faster: an IOC list of 10,000 values takes a fraction of a second, not many.
        choices = ", ".join(listed) if len(listed) == len(items) else " UNION ALL ".join(values)
        sql = f"({target} IN ({choices}))"
        return (f"(NOT coalesce({sql}, false))" if negate else sql), "bool"

    def term_check(self, left_text: str, item: Node, columns: Columns, mode: str) -> str:
        if self.is_tabular(item) or (item.kind == "Name" and name_text(item) in self.tables):
            sub = self.tabular(item)
            first = self.columns(sub)[0][0]
            quantifier = "EXISTS" if mode == "has_any" else "NOT EXISTS"
            test = f"kql_has({left_text}, kql_str({quote_name(first)}))"
            if mode == "has_all":
                test = f"NOT ({test})"
            return f"{quantifier} (SELECT 1 FROM ({sub}) AS {self.alias()} WHERE {test})"
        sql, kind = self.expr(item, columns)
        if kind == "dynamic":
            aggregate = "list_bool_or" if mode == "has_any" else "list_bool_and"
            each = f"list_transform(from_json({sql}, '[\"VARCHAR\"]'), lambda x: kql_has({left_text}, x))"
            return f"coalesce({aggregate}({each}), false)"
        return f"kql_has({left_text}, {self.as_string(sql, kind)})"

    def between(self, node: Node, value: str, _kind: str, columns: Columns) -> tuple[str, str]:
        """`between` and `!between` with the left operand compiled (see chain)."""
        low, _ = self.expr(node["right"]["low"], columns)
        high, _ = self.expr(node["right"]["high"], columns)
        sql = f"({value} BETWEEN {low} AND {high})"
        return (f"(NOT {sql})" if node["op"].text.startswith("!") else sql), "bool"

    def e_call(self, node: Node, columns: Columns) -> tuple[str, str]:
        callee = node["callee"]
        if callee.kind != "Name":
            raise self.unsupported("calls on expressions", node)
        name = name_text(callee)
        arguments = node["arguments"]["items"] or []
        if name == "toscalar":
            return self.scalar_subquery(arguments[0])
        if name in self.functions:
            if self.is_tabular(node):
                raise self.unsupported(f"the tabular function '{name}' used as a value", callee)
            return self.call_function(node, columns, tabular=False)
        handler = FUNCTIONS.get(name)
        if handler is None:
            raise self.unsupported(f"the function '{name}'", callee)
        return handler(self, arguments, columns, node)

    def e_typeof(self, node: Node, columns: Columns) -> tuple[str, str]:
        raise self.unsupported("typeof() outside extractjson/mv-expand", node)


# What a typed parse column matches (simple and regex kinds alike); dates are not attempted.
_PARSE_GROUPS = {
    "string": "(.*?)", "long": "(-?[0-9]+)", "int": "(-?[0-9]+)",
    "real": "(-?[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)", "bool": "(true|false|True|False)",
    "datetime": "(.*?)",
}  # fmt: skip


def _conjuncts(predicate: Node) -> list[Node]:
    """The operands of a chain of `and` (through parentheses), or the predicate itself; by a loop, as a
    chain nests as deep as it is long."""
    result: list[Node] = []
    pending = [predicate]
    while pending:
        node = pending.pop()
        inner = [c for c in node.children if isinstance(c, Node)] if node.kind == "Parenthesized" else []
        if len(inner) == 1:
            pending.append(inner[0])
        elif node.kind == "BinaryExpression" and node["op"].text == "and":
            pending += [node["right"], node["left"]]  # the left one is taken first
        else:
            result.append(node)
    return result


def _has_any_of(text: str, needles: list[str]) -> str:
    """`has_any` of many string literals as one regular expression per 10,000 terms, not one per term:
    the same test as kql_has for each (`P(a|b)S` matches where `PaS` or `PbS` does), planned in a moment."""
    if "" in needles:  # every text has the empty term
        return "true"
    tests = []
    for start in range(0, len(needles), 10_000):
        listed = ", ".join(_string(needle) for needle in needles[start : start + 10_000])
        terms = f"array_to_string(list_transform([{listed}], lambda _kql_n: regexp_escape(lower(_kql_n))), '|')"
        tests.append(
            f"regexp_matches(lower(coalesce({text}, '')), '(^|[^[:alnum:]])(' || {terms} || ')($|[^[:alnum:]])')"
        )
    return "(" + " OR ".join(tests) + ")"


def _filter(condition: str) -> str:
    """A WHERE condition as DuckDB plans it fast. DuckDB splits a filter into conjuncts (also through NOT
    of an OR) and plans them pairwise: 2,000 take seconds and gigabytes. Inside a function a long condition
    stays one expression; a null counts as false in WHERE either way."""
    if condition.count(" AND ") + condition.count(" OR ") > _SEPARATE_CONJUNCTS:
        return f"coalesce({condition}, false)"
    return condition


def _words(where: Node) -> set[str]:
    """The words of a filter's predicate (names unquoted), to see which columns and functions it reads."""
    return {token.text.strip("[]'\"") for token in where["predicate"].tokens()}


# Functions whose value depends on other rows or on chance: a filter using them must stay in place.
_ROW_ORDER_FUNCTIONS = {"row_number", "prev", "next", "row_cumsum", "row_rank_dense", "row_rank_min", "rand",
                        "new_guid", "row_window_session"}  # fmt: skip

# Joins a row's columns for `search`; not alphanumeric, so it bounds terms as a column's edge does.
_SEARCH_SEPARATOR = "\x01"


def function_parameters(declaration: Node) -> list[tuple[str, bool, Node | None]]:
    """(name, is a table, default value) of a let function's parameters."""
    parameter_list = next(c for c in declaration.children if isinstance(c, Node) and c.kind == "ParameterList")
    result: list[tuple[str, bool, Node | None]] = []
    children = parameter_list.children
    for index, child in enumerate(children):
        if isinstance(child, Node) and child.kind == "Name":
            is_table, default = False, None
            for following in children[index + 1 :]:
                if isinstance(following, Node) and following.kind == "Name":
                    break
                if isinstance(following, Node) and following.kind == "Schema":
                    is_table = True
                elif isinstance(following, Node) and following.kind not in ("Type",):
                    default = following
            result.append((name_text(child), is_table, default))
    return result


def _is_literal(node: Node) -> bool:
    if node.kind != "Literal":
        return False
    return node["literal"] in ("string", "number", "timespan") or (
        node["literal"] == "typed_literal" and "null" not in node.text()
    )


def _nonnull(sql: str, kind: str, nullable: bool) -> str:
    """Strings are never null in KQL: rows an outer join or union filled in get ""."""
    return f"coalesce({sql}, '')" if nullable and kind == "string" else sql


def _index_of_by(node: Node) -> int:
    for index, child in enumerate(node.children):
        if isinstance(child, Token) and child.text == "by":
            return index
    return len(node.children)


def _typed(value: str, kind: str) -> Any:
    if kind == "string":
        return value
    if value == "":
        return None
    try:
        if kind in ("long", "int"):
            return int(value)
        if kind == "real":
            return float(value)
        if kind == "bool":
            return value.strip().lower() == "true"
        if kind == "datetime":
            return parse_datetime(value)
        if kind == "dynamic":
            return json.loads(value)
    except ValueError:
        return None
    return value


_STRING_OPERATORS: dict[str, Callable[[str, str], str]] = {
    "has": lambda a, b: f"kql_has({a}, {b})",
    "has_cs": lambda a, b: f"kql_has_cs({a}, {b})",
    "hasprefix": lambda a, b: f"kql_hasprefix({a}, {b})",
    "hassuffix": lambda a, b: f"kql_hassuffix({a}, {b})",
    "hasprefix_cs": lambda a, b: f"regexp_matches(coalesce({a}, ''), '(^|[^[:alnum:]])' || regexp_escape({b}))",
    "hassuffix_cs": lambda a, b: f"regexp_matches(coalesce({a}, ''), regexp_escape({b}) || '($|[^[:alnum:]])')",
    "contains": lambda a, b: f"contains(lower({a}), lower({b}))",
    "contains_cs": lambda a, b: f"contains({a}, {b})",
    "startswith": lambda a, b: f"starts_with(lower({a}), lower({b}))",
    "startswith_cs": lambda a, b: f"starts_with({a}, {b})",
    "endswith": lambda a, b: f"ends_with(lower({a}), lower({b}))",
    "endswith_cs": lambda a, b: f"ends_with({a}, {b})",
}


_OPERATORS: dict[str, Callable[[Compiler, Node, str], str]] = {
    "Where": Compiler.where,
    "Extend": Compiler.extend,
    "Project": Compiler.project,
    "ProjectNames": Compiler.project_names,
    "ProjectRename": Compiler.project_rename,
    "Take": Compiler.take,
    "Sort": Compiler.sort,
    "Top": Compiler.top,
    "Count": Compiler.count,
    "Distinct": Compiler.distinct,
    "Summarize": Compiler.summarize,
    "Join": Compiler.join,
    "Lookup": Compiler.join,
    "Union": Compiler.union_operator,
    "Search": Compiler.search_operator,
    "Evaluate": Compiler.evaluate,
    "MvExpand": Compiler.mv_expand,
    "MvApply": Compiler.mv_apply,
    "LooseOperator": Compiler.loose_operator,
    "ProjectByNames": Compiler.project_by_names,
    "Invoke": Compiler.invoke,
    "ParseKv": Compiler.parse_kv,
    "TopNested": Compiler.top_nested,
    "Parse": Compiler.parse,
    "MakeSeries": Compiler.make_series,
    "Serialize": serialize,
    "As": as_operator,
    "Render": render,
}

# Operators whose left operand may be the same kind of node, compiled by Compiler.chain given that
# operand's SQL and kind.
_CHAIN_LINKS: dict[str, Callable[[Compiler, Node, str, str, Columns], tuple[str, str]]] = {
    "BinaryExpression": Compiler.binary,
    "InExpression": Compiler.in_list,
    "BetweenExpression": Compiler.between,
}
# A run of one of these operators longer than _FOLD_AFTER is compiled as a fold (Compiler.fold); shorter
# runs stay nested, as ordinary queries always were.
_FOLDABLE = frozenset({"+-", "*/%"})
_FOLD_AFTER = 200
# `has_any` of more string literals than this is one regular expression (_has_any_of).
_FEW_TERMS = 64
# The most let function calls one query may inline (see Compiler.call_function).
_MAX_INLINED = 1_000
# The most SQL text one expression may compile to (see Compiler.bounded).
_MAX_SQL = 32_000_000
# A `where` whose SQL has more AND/OR than this gives DuckDB one condition, not one filter per operand.
_SEPARATE_CONJUNCTS = 64


def _group(link: Node) -> str:
    """What joins links into one run: the same `and` or `or`, or operators of one arithmetic precedence."""
    if link.kind != "BinaryExpression":
        return link.kind
    op = link["op"].text
    return "+-" if op in ("+", "-") else "*/%" if op in ("*", "/", "%") else op


def _run(links: list[Node], start: int) -> list[Node]:
    """links[start:] up to the first of another group: `a or b or c and d` -> the two `or`s."""
    group = _group(links[start])
    end = start + 1
    while end < len(links) and _group(links[end]) == group:
        end += 1
    return links[start:end]


_EXPRESSIONS: dict[str, Callable[[Compiler, Node, Columns], tuple[str, str]]] = {
    "Literal": Compiler.e_literal,
    "Name": Compiler.e_name,
    "Parenthesized": Compiler.e_parenthesized,
    "UnaryExpression": Compiler.e_unary,
    "MemberAccess": Compiler.e_member,
    "ElementAccess": Compiler.e_element,
    "Call": Compiler.e_call,
    "TypeOf": Compiler.e_typeof,
}
