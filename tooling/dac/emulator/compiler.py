"""KQL syntax tree -> DuckDB SQL, one nested SELECT per pipe step, with KQL's semantics.

This module compiles the statements (let, set), the let functions and views (inlined where they are
called), the sources of rows (tables, datatable, externaldata, range, print) and the pipes, whose
steps it hands to the operators (the `_OPERATORS` table below); expressions.py compiles the scalar
expressions. The other modules see the compiler as interface.Compiler.

Column lists come from DuckDB itself (DESCRIBE of the step so far), so every step knows the
exact columns and types it works on. Anything without an exact translation raises
EmulatorError("EMU001", "the emulator does not support ...") at the construct's offset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..kql import parse
from ..kql.functions import lookup as catalog_lookup
from ..kql.lexer import T, Token
from ..kql.names import name_text
from ..kql.parser import MAX_NESTING, expansion_offset
from ..kql.syntax import Node
from .errors import EmulatorError, offset_of
from .expressions import ExpressionCompiler
from .external import declared_columns, external_source, read_external, typed_rows, unmapped
from .functions.columns import constant_string
from .functions.rows import serialized, uses_row_functions
from .graph_match import graph_operator
from .make_series import make_series
from .mv_expand import mv_apply, mv_expand
from .operators import (
    STORED_KINDS,
    count,
    distinct,
    extend,
    join,
    project,
    project_by_names,
    project_names,
    project_rename,
    sort,
    summarize,
    take,
    top,
    top_nested,
    where,
)
from .parse_operators import parse as parse_operator
from .parse_operators import parse_kv
from .pass_through import as_operator, render, serialize
from .platform_data import file_profile, get_watchlist, resource_graph
from .plugins import evaluate
from .sql import DUCK_TYPES, kql_type_of, quote_name
from .ticks import DATETIME_NS
from .unions import search, union

if TYPE_CHECKING:
    from .session import Session

Columns = list[tuple[str, str]]
_Result = TypeVar("_Result")


def compile_query(engine: Session, text: str) -> tuple[str, Columns | None]:
    """The SQL of a query, and its columns where compiling learned them without asking DuckDB."""
    result = parse(text)
    if result.diagnostics:
        first = result.diagnostics[0]
        raise EmulatorError("EMU004", f"syntax error: {first.message}", first.start)
    compiler = Compiler(engine)
    sql = compiler.query(result.tree)
    if sql.count("(") > _DEEP_SQL and _nesting(sql) > _DEEP_SQL:  # rare: only then ask DuckDB whether it takes
        # the query, to say why not (a query with fewer brackets than the limit cannot nest past it)
        _describe(engine, sql)
    known = compiler.known_columns.get(sql)
    if known is not None and _CHECK_KNOWN_COLUMNS:
        _check_known(engine, sql, known)
    return sql, list(known) if known is not None else None


def _describe(engine: Session, sql: str) -> Columns:
    """The columns of a query, from DuckDB; its refusal of SQL nested too deep said in our words."""
    return [(name, kql_type_of(duck)) for name, duck in _describe_types(engine, sql)]


def _describe_types(engine: Session, sql: str) -> list[tuple[str, str]]:
    """_describe with DuckDB's types."""
    try:
        return engine.describe_types(sql)
    except EmulatorError as error:
        if "max_expression_depth" not in error.engine_text:  # DuckDB's words, kept off the message
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
# DAC_CHECK_COLUMNS=1 (the suite's corpus test): every column list the compiler knew without DuckDB is
# compared with DuckDB's DESCRIBE, so that a wrong one is found by a test and not by a user.
_CHECK_KNOWN_COLUMNS = os.environ.get("DAC_CHECK_COLUMNS") == "1"


def _check_known(engine: Session, sql: str, known: Columns) -> None:
    described = _describe(engine, sql)
    if described != known:
        raise AssertionError(f"known columns {known} differ from DuckDB's {described} for: {sql[:300]}")


# The DuckDB type each column type of a known or described column list is stored as (kql_type_of's inverse
# for these): expression_kinds types its probe's columns with them.
_PROBE_TYPES = {kind: DUCK_TYPES[kind] for kind in ("string", "long", "int", "real", "bool", "datetime", "timespan",
                                                    "dynamic")} | {DATETIME_NS: "TIMESTAMP_NS"}  # fmt: skip


def _probe_typed(described: list[tuple[str, str]]) -> bool:
    """Whether every DuckDB type is the one its KQL type is stored as (_PROBE_TYPES)."""
    return all(_PROBE_TYPES.get(kql_type_of(duck)) == duck.upper() for _, duck in described)


# Past this bracket depth compile_query has DuckDB check the query (its limit is 1000 expression levels).
_DEEP_SQL = 250


class Compiler(ExpressionCompiler):
    """The compilation of one query (interface.Compiler describes it to the other modules)."""

    def __init__(self, engine: Session):
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
        self.search_texts: dict[str, str] = {}  # within one `search`: joined columns SQL -> helper column
        self.row_named_columns = False  # whether bag_unpack or pivot named columns after the rows' values
        # SQL -> its columns, where known without DuckDB (union computes its own) or described already
        self.known_columns: dict[str, Columns] = {}
        # Relations DESCRIBE gave a column type that is not the one its KQL type is stored as (a HUGEINT sum,
        # a DuckDB list): expression_kinds cannot stand in for them or what is built on them.
        self.other_types: set[str] = set()
        # Outputs whose types the operator was not sure of, with what expression_kinds needs to tell them: asked
        # only when a later operator needs the columns (the last operator's never are: the query runs as is).
        self.deferred: dict[str, tuple[str, Columns, dict[int, str], bool]] = {}
        self.same_columns: dict[str, str] = {}  # a where's, take's, ... relation -> its input, deferred
        self.filters: dict[str, tuple[str, list[str]]] = {}  # SQL of a where -> its parts (operators.where)
        self.let_views: dict[str, str] = {}  # SQL reading a tabular let's view -> the view's name

    def unsupported(self, what: str, node: Node | Token | None) -> EmulatorError:
        return EmulatorError("EMU001", f"the emulator does not support {what}", offset_of(node))

    def alias(self) -> str:
        self.counter += 1
        return f"_t{self.counter}"

    def columns(self, sql: str) -> Columns:
        known = self.known_columns.get(sql)
        if known is None and sql in self.same_columns:
            chain = [sql]
            while chain[-1] in self.same_columns and chain[-1] not in self.known_columns:
                chain.append(self.same_columns[chain[-1]])
            known = self.columns(chain[-1])  # the first relation of the chain that is not a where, take, ...
            for relation in chain:
                self.known_columns[relation] = known
        if known is None and sql in self.deferred:
            known = self._deferred_columns(sql)
        if known is None:
            view = self.let_views.get(sql)
            # creating a let's view bound its query: its columns are in DuckDB's catalog, cheaper than DESCRIBE
            described = self.engine.view_types(view) if view is not None else _describe_types(self.engine, sql)
            known = [(name, kql_type_of(duck)) for name, duck in described]
            if not _probe_typed(described):
                self.other_types.add(sql)
            self.known_columns[sql] = known
        elif _CHECK_KNOWN_COLUMNS:
            _check_known(self.engine, sql, known)
        return list(known)

    def defer_kinds(self, sql: str, read: str, columns: Columns, unsure: dict[int, str], grouped: bool = False) -> None:
        """`sql`'s columns, where those at the positions of `unsure` have the types of those expressions over
        the rows of `read`: told by expression_kinds if and when columns(sql) is asked."""
        self.deferred[sql] = (read, columns, unsure, grouped)

    def _deferred_columns(self, sql: str) -> Columns | None:
        read, columns, unsure, grouped = self.deferred.pop(sql)
        told = self.expression_kinds(read, list(unsure.values()), grouped)
        if told is None:
            return None
        kinds = [kind for _, kind in columns]
        for index, kind in zip(unsure, told, strict=True):
            kinds[index] = kind
        if not all(kind in STORED_KINDS for kind in kinds):
            return None
        known = [(name, kind) for (name, _), kind in zip(columns, kinds, strict=True)]
        self.known_columns[sql] = known
        return known

    def expression_kinds(self, sql: str, expressions: list[str], grouped: bool = False) -> list[str] | None:
        """The types of SQL expressions over the rows of `sql`, from DuckDB's DESCRIBE of the expressions over
        one row of typed nulls: a DESCRIBE of `sql` itself plans all of it again (6 ms a time for a query of
        joins and parsing). An expression's type depends only on its inputs' types; here each column has
        the DuckDB type its KQL type is stored as (_PROBE_TYPES). None (the caller's result is then left to a
        DESCRIBE) when a column of `sql` may have another (a DESCRIBE gave one), an expression's type is not
        such a type either, or DuckDB refuses the probe. `grouped`: the expressions are a grouping's keys and
        aggregates."""
        columns = self.columns(sql)
        # A relation built on one whose DESCRIBE gave other types (which its SQL then holds) may pass them on
        if any(other in sql for other in self.other_types):
            return None
        text = " ".join(expressions)
        if "*" not in text and "COLUMNS(" not in text.upper():  # else an expression may read every column
            columns = [(name, kind) for name, kind in columns if quote_name(name) in text]  # what they read
        typed = []
        for name, kind in columns:
            duck = _PROBE_TYPES.get(kind)
            if duck is None:
                return None
            typed.append(f"CAST(NULL AS {duck}) AS {quote_name(name)}")
        selects = ", ".join(f"{expression} AS {quote_name(f'_kind{n}')}" for n, expression in enumerate(expressions))
        probe = f"SELECT {selects} FROM (SELECT {', '.join(typed) or '1 AS _none'}) AS {self.alias()}"
        if grouped:
            probe += " GROUP BY ALL"
        try:
            described = self.engine.describe_types(probe)
        except EmulatorError:
            return None
        kinds = [kql_type_of(duck) for _, duck in described]
        if len(kinds) != len(expressions) or not _probe_typed(described):
            return None
        return kinds

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
                return define_view(self, name, value)
            self.declare_function(name, value)
            return
        if self.is_tabular(value):
            sql = self.tabular(value)
            view = f"let_{self.counter}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
            self.counter += 1
            self.engine.create_temporary("VIEW", view, f"AS {sql}")
            selected = self.tables[name] = f"SELECT * FROM {quote_name(view)}"
            if sql in self.known_columns:
                self.known_columns[selected] = self.known_columns[sql]
            else:  # read from DuckDB's catalog if asked for (see columns)
                self.let_views[selected] = view
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

    def expand(self, call: Node, body: Callable[[], _Result], name: str | None = None) -> _Result:
        """Run `body` on the let function `call` calls (or `name`, that `call` names without brackets), as
        its body sees names: the functions declared before it, at the depth the call expands it to (refused
        past MAX_NESTING, as the binder does)."""
        name = name or name_text(call["callee"])
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
        return self.inline(name_text(node["callee"]), list(node["arguments"]["items"] or []), node, columns, tabular)

    def inline(self, name: str, arguments: list[Node], node: Node, columns: Columns, tabular: bool) -> Any:
        """The let function `name` called with `arguments` at `node`, inlined."""
        self.inlined += 1
        if self.inlined > _MAX_INLINED:  # functions calling others twice double the work at each level
            raise self.unsupported(f"more than {_MAX_INLINED:,} calls of let functions in one query", node)
        declaration = self.functions[name]
        saved = (dict(self.scalars), dict(self.tables), dict(self.functions))
        try:
            for index, (parameter, is_table, default) in enumerate(function_parameters(declaration)):
                value = arguments[index] if index < len(arguments) else default
                if value is None:
                    raise EmulatorError("EMU006", f"'{name}' needs a value for '{parameter}'", offset_of(node))
                if value.kind == "Assignment":
                    value = value["value"]
                if is_table:
                    self.tables[parameter] = self.tabular(value)
                else:
                    sql, kind = self.expr(value, columns)
                    self.scalars[parameter] = (f"({sql})", kind)
            return self.expand(node, lambda: self.function_body(name, node, declaration, columns, tabular), name)
        finally:
            self.scalars, self.tables, self.functions = saved

    def callable_bare(self, name: str) -> bool:
        """Whether `name` is a let function that its bare name calls: one all of whose parameters have
        defaults (`let f = () {...}; f`, which Microsoft's binder binds as the call f())."""
        declaration = self.functions.get(name)
        return declaration is not None and all(default is not None for *_, default in function_parameters(declaration))

    def function_body(self, name: str, call: Node, declaration: Node, columns: Columns, tabular: bool) -> Any:
        statements = declaration["statements"] or []
        once = not tabular and _lambda_safe(statements)
        bound: list[tuple[str, str]] = []  # (lambda parameter, SQL of the let value), outermost first
        for position, statement in enumerate(statements[:-1]):
            if statement.kind != "LetStatement":
                continue
            if once and self._bound_once(statement, statements[position + 1 :], bound):
                continue
            self.let(statement)
        if not statements:
            raise EmulatorError("EMU005", f"'{name}' has an empty body", offset_of(call))
        last = statements[-1]
        if tabular:
            return self.tabular(last)
        sql, kind = self.expr(last, columns)
        for parameter, value in reversed(bound):
            sql = f"list_transform([{value}], lambda {parameter}: {sql})[1]"
        return sql, kind

    def _bound_once(self, statement: Node, later: list[Node], bound: list[tuple[str, str]]) -> bool:
        """A scalar let of a function body that the rest of the body reads more than once, bound to a lambda
        parameter (evaluated once) instead of written out at each use: lets built on lets (`let a = ...;
        let b = f(a, a); g(b, b)`) would otherwise grow the SQL, and DuckDB's planning, exponentially."""
        value: Node = statement["value"]
        if value.kind == "FunctionDeclaration" or self.is_tabular(value):
            return False
        name = name_text(statement["name"])
        uses = sum(1 for node in later for token in node.tokens() if token.kind is T.IDENT and token.text == name)
        if uses < 2:
            return False
        sql, kind = self.expr(value, [])
        # short values, and constants short of a long chain (no column or bound value in them: a function
        # that needs a constant argument, such as a format, must still see one) are written out as before
        constant = '"' not in sql and "__let" not in sql
        if len(sql) < (_BIND_ONCE_CONSTANT_LENGTH if constant else _BIND_ONCE_LENGTH):
            self.scalars[name] = (sql, kind)
            return True
        parameter = f"__let{self.counter}"
        self.counter += 1
        self.scalars[name] = (parameter, kind)
        bound.append((parameter, sql))
        return True

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
            return self.table_named(name, node)
        if kind == "DataTable":
            return self.datatable(node)
        if kind == "ExternalData":
            return self.externaldata(node)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) in self.functions:
            return self.call_function(node, [], tabular=True)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) == "table":
            return self.table_call(node)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) == "_GetWatchlist":
            return get_watchlist(self, node)
        if kind == "Call" and node["callee"].kind == "Name" and self.declared_function(name_text(node["callee"])):
            # A workspace function from the project's tables folder: a test gives its output as the rows of a
            # table of its name, whatever the arguments (they shape what the real function returns).
            return self.table_named(name_text(node["callee"]), node)
        if kind == "Call" and node["callee"].kind == "Name" and name_text(node["callee"]) in ("materialize", "view"):
            arguments = node["arguments"]["items"] or []
            inner = self.tabular(arguments[0])
            table = f"materialized_{self.counter}"
            self.counter += 1
            self.engine.create_temporary("TABLE", table, f"AS {inner}")
            return f"SELECT * FROM {quote_name(table)}"
        if kind == "MemberAccess" and node["target"].kind == "Call" and node["member"].kind == "Name":
            callee = node["target"]["callee"]
            if callee.kind == "Name" and name_text(callee) == "arg":
                return resource_graph(self, node)
        if kind == "Union":
            return union(self, node, None)
        if kind == "Print":
            return project(self, node, None)
        if kind == "Range":
            return self.range(node)
        if kind == "Search":
            return search(self, node, None)
        raise self.unsupported(f"'{node.text().strip()[:40]}' as a table", node)

    def declared_function(self, name: str) -> bool:
        """A tabular function the project declares (a `"kind": "function"` table file), not a let."""
        environment = self.engine.environment
        return name not in self.functions and name in environment.function_tables and name in environment.tables

    def table_named(self, name: str, node: Node) -> str:
        if name in self.tables:
            return self.tables[name]
        if name in self.functions and all(
            default is not None for *_, default in function_parameters(self.functions[name])
        ):
            return self.inline(
                name, [], node, [], tabular=True
            )  # a function all of whose parameters have defaults, named without ()
        if self.engine.ensure_table(name):
            sql = f"SELECT * FROM {quote_name(name)}"
            self.known_columns[sql] = self.engine.stored_columns(name)  # no DESCRIBE of a table we made
            return sql
        raise EmulatorError("EMU003", f"unknown table '{name}' in the emulator", offset_of(node))

    def table_call(self, node: Node) -> str:
        """table(tableName [, DataScope]): the table (or tabular let name) the string names (table()
        reference); the name must be known when the query is compiled, and DataScope (hot cache or not)
        changes no result of the emulator, which has no cache."""
        arguments = node["arguments"]["items"] or []
        if not 1 <= len(arguments) <= 2:
            raise EmulatorError("EMU006", "wrong number of arguments for 'table'", offset_of(node))
        name = constant_string(self, arguments[0])
        if name is None:
            raise self.unsupported("table() whose name is not a constant string", arguments[0])
        return self.table_named(name, node)

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
                                offset_of(node))  # fmt: skip
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
        return declared_columns(schema)

    def externaldata(self, node: Node) -> str:
        source = external_source(node)
        rows: list[list[Any]] = []
        for url, offset in source.urls:
            path = self.engine.externaldata.get(url)
            if path is None:
                raise unmapped(url, offset)
            rows.extend(read_external(path, source.properties))
        table = f"external_{self.counter}"
        self.counter += 1
        self.engine.create_table(table, dict(source.columns), typed_rows(source.columns, rows))
        return f"SELECT * FROM {quote_name(table)}"

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
        if uses_row_functions(node):
            return serialized(self, node, sql, handler)
        result = handler(self, node, sql)
        if node.kind in _SAME_COLUMNS and sql in self.known_columns:
            self.known_columns.setdefault(result, self.known_columns[sql])
        elif node.kind in _SAME_COLUMNS and (sql in self.deferred or sql in self.same_columns):
            self.same_columns[result] = sql  # the input's, once they are told (columns)
        return result


# A let value of a function body whose SQL is at least this long is bound once (see _bound_once); a
# constant one only when it is as long as lets built on lets make it.
_BIND_ONCE_LENGTH = 80
_BIND_ONCE_CONSTANT_LENGTH = 4000


def _lambda_safe(statements: list[Node]) -> bool:
    """Whether a function body may run inside a DuckDB lambda: one calling an aggregate or a function of
    other rows cannot (DuckDB binds neither inside a lambda's body)."""
    for statement in statements:
        for token in statement.tokens():
            if token.kind is T.IDENT and (token.text in _ROW_ORDER_FUNCTIONS or _is_aggregate(token.text)):
                return False
    return True


def _is_aggregate(name: str) -> bool:
    info = catalog_lookup(name)
    return info is not None and info.kind in ("aggregate", "window")


def _words(where: Node) -> set[str]:
    """The words of a filter's predicate (names unquoted), to see which columns and functions it reads."""
    return {token.text.strip("[]'\"") for token in where["predicate"].tokens()}


# Functions whose value depends on other rows or on chance: a filter using them must stay in place.
_ROW_ORDER_FUNCTIONS = {"row_number", "prev", "next", "row_cumsum", "row_rank_dense", "row_rank_min", "rand",
                        "new_guid", "row_window_session"}  # fmt: skip


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


# ----------------------------------------------------------------- views and invoke
def define_view(compiler: Compiler, name: str, declaration: Node) -> None:
    """let name = view () { ... }: a table for the rest of the query, which union's wildcards also see."""
    if function_parameters(declaration):
        compiler.declare_function(name, declaration)  # a view with parameters is called like a function
        return
    statements = declaration["statements"] or []
    if not statements:
        raise EmulatorError("EMU005", f"the view '{name}' has an empty body", declaration.first_token().start)
    saved = (dict(compiler.scalars), dict(compiler.tables), dict(compiler.functions))
    try:
        for statement in statements[:-1]:
            if statement.kind == "LetStatement":
                compiler.let(statement)
        body = compiler.tabular(statements[-1])
    finally:
        compiler.scalars, compiler.tables, compiler.functions = saved
    compiler.tables[name] = body
    views = compiler.__dict__.setdefault("views", set())
    views.add(name)


def invoke(compiler: Compiler, node: Node, sql: str) -> str:
    """T | invoke F(a, b): F(T, a, b) for a let function whose first parameter is a table."""
    call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
    name = name_text(call["callee"]) if call is not None and call["callee"].kind == "Name" else ""
    declaration = compiler.functions.get(name)
    if declaration is None and name == "FileProfile" and call is not None:
        return file_profile(compiler, call, sql)
    if declaration is None:
        raise compiler.unsupported(f"invoke of '{name or '?'}'", call or node)
    parameters = function_parameters(declaration)
    if not parameters or not parameters[0][1]:
        raise EmulatorError("EMU006", f"'{name}' does not take a table first", call.first_token().start)
    source = f"__invoke_source_{compiler.counter}"
    compiler.counter += 1
    compiler.tables[source] = sql
    stand_in = Node("Name", [Token(T.IDENT, source, call.first_token().start)])
    arguments = call["arguments"]
    with_source = Node("Arguments", arguments.children, items=[stand_in, *(arguments["items"] or [])])
    rewritten = Node("Call", [call["callee"], with_source], callee=call["callee"], arguments=with_source)
    try:
        return compiler.call_function(rewritten, [], tabular=True)
    finally:
        del compiler.tables[source]


# The most let function calls one query may inline (see Compiler.call_function).
_MAX_INLINED = 1_000

# The operators whose output has their input's columns.
_SAME_COLUMNS = frozenset({"Where", "Take", "Sort", "Top"})

# The operator of each kind of pipe step.
_OPERATORS: dict[str, Callable[[Compiler, Node, str], str]] = {
    "Where": where,
    "Extend": extend,
    "Project": project,
    "ProjectNames": project_names,
    "ProjectRename": project_rename,
    "Take": take,
    "Sort": sort,
    "Top": top,
    "Count": count,
    "Distinct": distinct,
    "Summarize": summarize,
    "Join": join,
    "Lookup": join,
    "Union": union,
    "Search": search,
    "Evaluate": evaluate,
    "MvExpand": mv_expand,
    "MvApply": mv_apply,
    "LooseOperator": graph_operator,  # the graph operators, then loose_operators.py
    "ProjectByNames": project_by_names,
    "Invoke": invoke,
    "ParseKv": parse_kv,
    "TopNested": top_nested,
    "Parse": parse_operator,
    "MakeSeries": make_series,
    "Serialize": serialize,
    "As": as_operator,
    "Render": render,
}
