"""Jinja2 parameters in query text: only for detections that declare `parameters`, sandboxed and bounded.

A detection that has no `parameters` key is not a template: `{{`, `{%` and `{#` in its query are
KQL text (string content, comments) and stay as written. `parameters: {}` declares an empty set:
the query is a template without names (see docs/rendering.md).

A template runs in Jinja2's immutable sandbox with strict undefined and no loader, with dac's own
limits on top (every problem is a ParameterError, reported as DAC130 at its line):

- no `include`, `import`, `extends`, `macro`, `call`, `filter` blocks, `block`, block `set` or
  recursive loops: a query template has expressions, `if`, `for` and `set x = ...`;
- a short list of filters and methods, none of which can multiply the size of a value;
- at most MAX_ITERATIONS loop iterations in all, MAX_OUTPUT characters of output (counted while
  the template streams, so a runaway template stops early), values of at most MAX_VALUE characters
  or items, integers of at most MAX_BITS bits, TIME_LIMIT seconds of rendering, and nesting that
  stays far from Python's recursion limit.

Values are inserted as KQL: `{{ name | kql }}` writes any value as a KQL literal (strings quoted
and escaped, lists and mappings `dynamic([...])`, booleans `true`/`false`, None `null`, dates
`datetime(...)`). A bare `{{ name }}` inserts numbers, booleans, lists and mappings the same way,
and a string only when it is a single KQL token that cannot change the query's structure: a name
(`DeviceNetworkEvents`, `RemoteIP`, `AdditionalFields.Reason`, `['my column']`), a number or a
timespan (`7d`, `30m`). Any other bare string is refused with a hint to use `| kql`. A literal must
stand as whole KQL tokens in the result: `"{{ name | kql }}"` (quotes around it) is refused, since
the value could end the string it was put in.
"""

from __future__ import annotations

import bisect
import contextvars
import datetime as dt
import difflib
import functools
import json
import math
import re
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes, pass_context
from jinja2.filters import FILTERS
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from ..kql.lexer import tokenize
from .parameters import ParameterError

MAX_OUTPUT = 1_000_000  # characters of rendered query
MAX_VALUE = 1_000_000  # characters (strings) or items (lists, mappings) of any value the template makes
MAX_ITERATIONS = 100_000  # loop iterations, all loops of one rendering together
MAX_BITS = 4096  # size of an integer the template computes
MAX_NESTING = 32  # brackets in one expression, and blocks inside blocks
MAX_OPERATORS = 100  # operators and filters in one `{{ ... }}` or `{% ... %}`
TIME_LIMIT = 2.0  # seconds for one rendering

_FILENAME = "<dac query>"


class _Stop(Exception):
    """A limit or rule of dac's templates (not Jinja's own); `line` when the place is known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class Literal(str):
    """Text that is already a KQL literal (made by `kql` or `tojson`): inserted as it is."""


# ------------------------------------------------------------------------------------------- values
def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, range | Iterator):
        return _bounded_list(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be written in KQL")


def _datetime_literal(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"datetime({value.isoformat()}Z)"
    return f"datetime({value.isoformat()})"


def kql_literal(value: Any) -> str:
    """Any parameter value as a KQL literal (the `kql` filter)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, bool):
        return Literal("true" if value else "false")
    if value is None:
        return Literal("null")
    if isinstance(value, float) and not math.isfinite(value):
        return Literal("real(nan)" if math.isnan(value) else f"real({'+' if value > 0 else '-'}inf)")
    if isinstance(value, int | float):
        return Literal(json.dumps(value))
    if isinstance(value, dt.datetime | dt.date):
        return Literal(_datetime_literal(value))
    if isinstance(value, range | Iterator):
        value = _bounded_list(value)
    if isinstance(value, list | tuple | dict):
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
        return Literal(f"dynamic({text})")
    if isinstance(value, str):
        return Literal(json.dumps(str(value), ensure_ascii=False))
    raise TypeError(f"a value of type {type(value).__name__} cannot be written in KQL")


# A bare string must be one KQL token that cannot change the query's structure.
_BARE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"  # a name, or a dotted column path
    r"|\[(?:'[^'\\\r\n]*'|\"[^\"\\\r\n]*\")\]"  # a bracketed name: ['my column']
    r"|-?[0-9]+(?:\.[0-9]+)?"  # a number
    r"|[0-9]+(?:\.[0-9]+)?(?:d|h|m|s|ms|microseconds?|ticks?|milliseconds?|seconds?|minutes?|hours?|days?)"
)


_BREAKOUT = frozenset("\"'`\\@/\n")  # characters that could end a string or comment around a literal


def _finalize(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, Literal) and not isinstance(value, str):
        value = kql_literal(value)
    if isinstance(value, Literal):
        if not _BREAKOUT.isdisjoint(value):  # checked after rendering: it must stand as whole tokens
            _budget().pending = (value, _current_line())
        return value
    if isinstance(value, str):
        if _BARE.fullmatch(value):
            return value
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise _Stop(
            f"the string {shown!r} is not a KQL name, number or timespan and cannot be inserted bare; "
            "write it as a KQL literal with `{{ name | kql }}`"
        )
    return value


def _current_line() -> int | None:
    """The template line being rendered, from the call stack (the compiled template's frame)."""
    frame = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:
            return template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back
    return None


def _check_literals_stand_alone(text: str, inserted: list[tuple[int, int, int | None]]) -> None:
    """A literal inserted inside a KQL string or glued into one (`"{{ x | kql }}"`) could end that
    string and let its value write query text: every inserted literal must start and end on token
    boundaries of the rendered query (or lie wholly in a comment)."""
    tokens = [t for t in tokenize(text) if t.text]
    starts = [t.start for t in tokens]
    for begin, end, line in inserted:
        for offset in (begin, end):
            index = bisect.bisect_right(starts, offset) - 1
            if index >= 0 and tokens[index].start < offset < tokens[index].end:
                raise _Stop(
                    "a value inserted with `kql` (or a list, or `tojson`) lands inside a KQL string or next to a "
                    "quote; write `{{ name | kql }}` without quotes around it",
                    line,
                )


# ------------------------------------------------------------------------------------------- budget
class _Budget:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.iterations = 0
        self.loop_line: int | None = None  # the innermost loop running, for output limits
        self.pending: tuple[str, int | None] | None = None  # a literal finalize returned, not yet output
        self.inserted: list[tuple[int, int, int | None]] = []  # (start, end, template line) in the output
        self.measured: dict[int, tuple[Any, int, int]] = {}  # id -> (container, size, depth), see _size

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Stop(f"rendering the template takes longer than {TIME_LIMIT:g} seconds")

    def iterate(self, line: int) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise _Stop(f"the template's loops run more than {MAX_ITERATIONS} times in all", line)
        if not self.iterations % 256:
            self.tick()


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("dac_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # a template object used outside render_parameters
        budget = _Budget()
        _BUDGET.set(budget)
    return budget


_CONTAINERS = (list, tuple, dict, set, frozenset)
_SIZED = (str, bytes, *_CONTAINERS)


def _size(value: Any) -> int:
    """Characters and items in `value`, counted deeply (a value held twice counts twice, as it would be
    written twice); stops counting past MAX_VALUE or MAX_NESTING levels. Containers the rendering has
    measured before are not walked again."""
    if type(value) in (str, Literal, bytes):  # the common case, first
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    measured = _budget().measured
    total, deepest, stack = 0, 0, [(value, 1)]
    while stack and total <= MAX_VALUE and deepest <= MAX_NESTING * 2:
        item, depth = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, _CONTAINERS):
            known = measured.get(id(item))
            if known is not None and known[0] is item:
                total += known[1]
                deepest = max(deepest, depth - 1 + known[2])
                continue
            total += 1
            deepest = max(deepest, depth)
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        else:
            total += 1
    if deepest > MAX_NESTING * 2:
        raise _Stop(f"a value in the template is nested more than {MAX_NESTING * 2} levels deep")
    if total <= MAX_VALUE:
        measured[id(value)] = (value, total, deepest)
    return total


def _check_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_BITS:
        raise _Stop(f"a number in the template grows beyond {MAX_BITS} bits")
    if isinstance(value, _SIZED) and _size(value) > MAX_VALUE:
        raise _too_large()
    return value


def _require_defined(*values: Any) -> None:
    for value in values:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()


def _bounded_list(values: Any) -> list[Any]:
    budget, result = _budget(), []
    for item in values:
        result.append(item)
        if len(result) > MAX_VALUE:
            raise _too_large()
        if not len(result) % 256:
            budget.tick()
    return result


# ------------------------------------------------------------------------------------------- filters
def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    allow_undefined = name in ("default", "d")
    passes_state = hasattr(function, "jinja_pass_arg")  # @pass_context/@pass_eval_context: state comes first

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        values = args[1:] if passes_state else args
        if not allow_undefined:
            _require_defined(*values, *kwargs.values())
        if name == "join":
            _precheck_join(values, kwargs)
        elif name == "replace":
            _precheck_replace(values, kwargs)
        result = function(*args, **kwargs)
        if name == "tojson":
            result = Literal(result)
        return _check_value(result)

    return guarded


def _too_large() -> _Stop:
    return _Stop(f"a value in the template grows beyond {MAX_VALUE} characters or items")


def _precheck_join(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not values:
        return
    items = values[0]
    separator = values[1] if len(values) > 1 else kwargs.get("d", "")
    sized = isinstance(items, list | tuple | dict | set | frozenset | str)
    if sized and _size(items) + len(items) * len(str(separator)) > MAX_VALUE:
        raise _too_large()


def _precheck_replace(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(values) < 3:
        return
    text, old, new = (str(v) for v in values[:3])
    count = values[3] if len(values) > 3 else kwargs.get("count")
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    if len(text) + occurrences * max(0, len(new) - len(old)) > MAX_VALUE:
        raise _too_large()


# Filters that cannot make a value much larger than their input (`join` and `replace` are checked
# before they run). Jinja's others (format, indent, center, wordwrap, batch, slice, truncate,
# escape/safe, urlize, xmlattr, pprint, random, filesizeformat, ...) are not available.
_ALLOWED_FILTERS = (
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float", "groupby", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "replace", "reverse", "round", "select", "selectattr", "sort", "string", "sum", "title", "tojson",
    "trim", "unique", "upper",
)  # fmt: skip


@pass_context
def _iterate(_context: Context, value: Any, line: int) -> Iterator[Any]:
    """Every `{% for %}` loops over this: counts iterations against the budget."""
    _require_defined(value)
    budget = _budget()
    budget.tick()
    iterator = iter(value)

    def counted() -> Iterator[Any]:
        outer = budget.loop_line
        try:
            for item in iterator:
                budget.iterate(line)
                budget.loop_line = line
                yield item
        finally:
            budget.loop_line = outer

    return counted()


@pass_context
def _value(_context: Context, value: Any) -> Any:
    """Every list, tuple and dict literal goes through this."""
    _budget().tick()
    _require_defined(*(value if not isinstance(value, dict) else [*value.keys(), *value.values()]))
    return _check_value(value)


@pass_context
def _concat(_context: Context, values: list[Any]) -> str:
    """Every `~` goes through this: the joined text may not exceed MAX_VALUE."""
    _budget().tick()
    parts, total = [], 0
    for value in values:
        _require_defined(value)
        text = str(value)
        total += len(text)
        if total > MAX_VALUE:
            raise _too_large()
        parts.append(text)
    return "".join(parts)


# ------------------------------------------------------------------------------------------- calls
_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "casefold", "swapcase", "startswith",
    "endswith", "split", "rsplit", "splitlines", "partition", "rpartition", "find", "rfind", "index", "rindex",
    "count", "removeprefix", "removesuffix", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper",
    "isidentifier", "isdecimal", "isnumeric",
})  # fmt: skip
_METHODS: tuple[tuple[type, frozenset[str]], ...] = (
    (str, _STR_METHODS),
    (dict, frozenset({"items", "keys", "values", "get"})),
    (list, frozenset({"index", "count"})),
    (tuple, frozenset({"index", "count"})),
    (dt.date, frozenset({"isoformat"})),
    (LoopContext, frozenset({"cycle", "changed"})),
)
_FUNCTIONS = (safe_range, dict, Namespace)


def _callable_name(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__name__


def _allowed_call(obj: Any) -> bool:
    if any(obj is function for function in _FUNCTIONS):
        return True
    if isinstance(obj, types.BuiltinMethodType | types.MethodType):
        owner = getattr(obj, "__self__", None)
        return any(isinstance(owner, kind) and obj.__name__ in names for kind, names in _METHODS)
    return False


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().tick()
        _require_defined(left, right)
        numbers = all(isinstance(v, int | float) for v in (left, right))
        ints = all(isinstance(v, int) for v in (left, right))
        if operator == "**" and ints and right > 0 and abs(left) > 1 and right * left.bit_length() > MAX_BITS:
            raise _Stop(f"a number in the template grows beyond {MAX_BITS} bits")
        if operator == "*":
            if ints and left.bit_length() + right.bit_length() > MAX_BITS + 1:
                raise _Stop(f"a number in the template grows beyond {MAX_BITS} bits")
            if not numbers:
                sequence, count = (left, right) if isinstance(right, int) else (right, left)
                if isinstance(count, int) and count > 0 and _size(sequence) * count > MAX_VALUE:
                    raise _too_large()
        if operator == "+" and not numbers and _size(left) + _size(right) > MAX_VALUE:
            raise _too_large()
        if operator == "%" and isinstance(left, str):
            raise _Stop("string formatting with `%` is not available in a query template; join text with `~`")
        return _check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        _require_defined(__obj)  # `lipsum(...)`, `xs.append(...)`: say what is undefined or unsafe
        if not _allowed_call(__obj):
            raise SecurityError(f"calling {_callable_name(__obj)!r} is not allowed in a query template")
        _require_defined(*args, *kwargs.values())
        return _check_value(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().tick()
        _require_defined(obj)  # `x.__init__` of an undefined `x`: say that `x` is undefined
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget().tick()
        _require_defined(obj, argument)
        return super().getitem(obj, argument)


_ENVIRONMENT = _Environment(
    undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True, loader=None
)
_ENVIRONMENT.globals.clear()
_ENVIRONMENT.globals.update({"range": safe_range, "dict": dict, "namespace": Namespace})
_ENVIRONMENT.filters.clear()
_ENVIRONMENT.filters.update({name: _guarded_filter(name, FILTERS[name]) for name in _ALLOWED_FILTERS})
_ENVIRONMENT.filters["kql"] = _guarded_filter("kql", kql_literal)
_ENVIRONMENT.filters["_dac_iter"] = _iterate
_ENVIRONMENT.filters["_dac_concat"] = _concat
_ENVIRONMENT.filters["_dac_value"] = _value


# ------------------------------------------------------------------------------------------- compiling
_REFUSED: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from ... import"),
    (nodes.Macro, "macro"),
    (nodes.CallBlock, "call"),
    (nodes.FilterBlock, "filter"),
    (nodes.Block, "block"),
    (nodes.AssignBlock, "set ... endset"),
    (nodes.EvalContextModifier, "autoescape"),
)
_BLOCK_TAGS = frozenset({"for", "if", "with", "filter", "call", "macro", "block", "autoescape"})
_NOT_OPERATORS = frozenset({",", ":", ")", "]", "}", "="})
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")


def _check_shape(text: str) -> None:
    """Nesting and expression length, from the tokens: the parser and compiler recurse on both."""
    brackets = operators = blocks = 0
    first_in_block = False
    for line, token, value in _ENVIRONMENT.lex(text, filename=_FILENAME):
        if token in ("variable_begin", "block_begin"):
            brackets = operators = 0
            first_in_block = token == "block_begin"
            continue
        if token == "whitespace":
            continue
        if first_in_block and token == "name":
            if value in _BLOCK_TAGS:
                blocks += 1
            elif value.startswith("end"):
                blocks -= 1
            if blocks > MAX_NESTING:
                raise _Stop(f"blocks are nested more than {MAX_NESTING} deep", line)
        first_in_block = False
        if token == "operator":
            if value in _OPENING:
                brackets += 1
                if brackets > MAX_NESTING:
                    raise _Stop(f"brackets are nested more than {MAX_NESTING} deep", line)
            elif value in _CLOSING:
                brackets -= 1
            if value not in _NOT_OPERATORS:
                operators += 1
        elif token == "name" and value in ("and", "or", "not", "in", "is", "if", "else"):
            operators += 1
        if operators > MAX_OPERATORS:
            raise _Stop(f"an expression has more than {MAX_OPERATORS} operators and filters", line)


class _Guard(NodeTransformer):
    """Routes every loop, every `~` and every list, tuple or dict the template writes through the budget
    (a literal such as `[x, x]` could otherwise nest shared values into an exponential size)."""

    def _checked(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, "_dac_value", [], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._checked(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._checked(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load":  # an assignment target: `{% for key, value in ... %}`
            return self.generic_visit(node)
        return self._checked(node)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_dac_concat", [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        line = nodes.Const(node.lineno, lineno=node.lineno)
        node.iter = nodes.Filter(node.iter, "_dac_iter", [line], [], None, None, lineno=node.lineno)
        return node


def _compile(text: str) -> Any:
    _check_shape(text)
    tree = _ENVIRONMENT.parse(text, filename=_FILENAME)
    for kind, tag in _REFUSED:
        for node in tree.find_all(kind):
            raise _Stop(f"`{{% {tag} %}}` is not available in a query template", node.lineno)
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise _Stop("recursive loops are not available in a query template", loop.lineno)
    tree = _Guard().visit(tree)
    tree.set_environment(_ENVIRONMENT)
    code = _ENVIRONMENT.compile(tree, filename=_FILENAME)
    return _ENVIRONMENT.template_class.from_code(_ENVIRONMENT, code, _ENVIRONMENT.make_globals(None))


# ------------------------------------------------------------------------------------------- rendering
def render_parameters(text: str, parameters: Mapping[str, Any] | None) -> str:
    """Render a query template. `parameters` None: the detection declares none, so the text is not a
    template and comes back as it is. Raises ParameterError, positioned in `text`."""
    if parameters is None or not ("{{" in text or "{%" in text or "{#" in text):
        return text
    token = _BUDGET.set(_Budget())
    budget = _budget()
    try:
        template = _compile(text)
        chunks, size = [], 0
        for chunk in template.generate(**parameters):
            if budget.pending is not None:
                literal, line = budget.pending
                budget.pending = None
                if chunk == literal:
                    budget.inserted.append((size, size + len(chunk), line))
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _Stop(f"the rendered query is longer than {MAX_OUTPUT} characters", budget.loop_line)
            chunks.append(chunk)
        result = "".join(chunks)
        if budget.inserted:
            _check_literals_stand_alone(result, budget.inserted)
        return result
    except Exception as exc:  # any failure of a template is the user's DAC130, never a traceback
        raise _parameter_error(exc, text, parameters) from None
    finally:
        _BUDGET.reset(token)


def _template_line(exc: BaseException) -> int | None:
    """The innermost line of the template in the exception's traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if code.co_filename == _FILENAME and template is None:
            line = tb.tb_lineno  # a frame Jinja rewrote to the template's line
        elif template is not None:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


_UNDEFINED_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$")


def _parameter_error(exc: Exception, text: str, parameters: Mapping[str, Any]) -> ParameterError:
    name = None
    if isinstance(exc, _Stop):
        message, line = exc.message, exc.line or _template_line(exc)
    elif isinstance(exc, TemplateSyntaxError):
        message, line = exc.message or str(exc), exc.lineno
    elif isinstance(exc, RecursionError):
        message, line = "the template is nested too deeply", None
    elif isinstance(exc, MemoryError):
        message, line = "the template needs too much memory", _template_line(exc)
    elif isinstance(exc, TemplateError):
        message, line = exc.message or str(exc), _template_line(exc) or getattr(exc, "lineno", None)
    else:
        message, line = f"{type(exc).__name__}: {exc}", _template_line(exc)
    if isinstance(exc, TemplateSyntaxError) and message.startswith("No filter named"):
        message += f" (filters: {', '.join(sorted(n for n in _ENVIRONMENT.filters if not n.startswith('_')))})"
    if isinstance(exc, UndefinedError):
        match = _UNDEFINED_NAME.match(message)
        if match:
            name = match.group(1)
            message += _known_names(name, parameters)
    line = line or 1
    return ParameterError(f"query parameters: {message}", line, _column(text, line, name))


def _known_names(name: str, parameters: Mapping[str, Any]) -> str:
    known = sorted(parameters)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} (parameters: {', '.join(known) or 'none'})"


def _column(text: str, line: int, name: str | None) -> int:
    """Best-effort column on the template's line: the undefined name in a tag, else the first tag."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return 1
    source = lines[line - 1]
    tags = [m.start() for m in re.finditer(r"\{\{|\{%", source)]
    if name:
        for match in re.finditer(rf"\b{re.escape(name)}\b", source):
            if any(start < match.start() for start in tags):
                return match.start() + 1
    return tags[0] + 1 if tags else 1
