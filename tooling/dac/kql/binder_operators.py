"""Query operators for the binder: OperatorBinder, the mixin of Binder that follows the row schema through
each query operator (one `op_*` method per operator node, looked up in _OPERATORS), and column_name,
Kusto's name for an unnamed expression column (which the emulator uses too)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from . import functions as catalog
from .binder_expressions import side_reference
from .binder_graph import GRAPH_OPERATORS, graph_schema
from .lexer import T, Token
from .names import (
    AGGREGATE_PREFIX,
    aggregate_name,
    expanded_name,
    name_text,
    path_name,
    string_literal,
    string_value,
    subject_name,
)
from .operator_types import BOOL_LITERALS
from .symbols import Scope, Symbol
from .syntax import Node, operands
from .types import BOOL, DYNAMIC, LONG, REAL, STRING, UNKNOWN, RowSchema, normalize_type


class OperatorBinder:
    """Binder's operator methods; the state, reporting and tabular binding they use are Binder's, the scalar
    binding (self.bind_scalar, self.check_arity, ...) is ExpressionBinder's."""

    # ----------------------------------------------------------------- operators
    def bind_operator(self, operator: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        handler = _OPERATORS.get(operator.kind)
        self.check_parameters(operator)
        if operator.kind == "LooseOperator" and operator["operator"] in GRAPH_OPERATORS:
            return graph_schema(operator, schema, scope)
        if handler is None:
            return RowSchema.unknown() if operator.kind in ("LooseOperator", "Error", "TopNested") else schema
        return handler(self, operator, schema, scope)

    def op_where(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        predicate = node["predicate"]
        kind = self.bind_scalar(predicate, schema, scope)
        if kind not in (BOOL, UNKNOWN) and predicate.kind != "MissingExpression":  # dynamic too: KS141 in Kusto
            self.report("KQL210", f"the condition of 'where' must be a bool, not {kind}", predicate)
        return schema

    def op_extend(self, node: Node, schema: RowSchema, scope: Scope, project: bool = False) -> RowSchema:
        result = RowSchema({}, schema.open) if project else schema.copy()
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        counter = [0]
        added: set[str] = set()
        self.check_declared_once((lists[0]["items"] if lists else []) or [], node)
        # A later item may read a column an earlier one made (`extend y = 1, z = y + 1`); a name the input has
        # still reads the input's column (Microsoft's binder: `extend x = 1, z = x + 1` adds to the old x)
        visible = schema.copy()
        for index, item in enumerate((lists[0]["items"] if lists else []) or []):
            produced = self.bind_column_item(item, visible, scope, counter)
            visible.columns.update((name, type_) for name, type_ in produced if name not in schema.columns)
            for name, type_ in produced:
                if node.kind == "Print" and item.kind != "Assignment" and sorted_arrays_names(item) is None:
                    name = print_name(index)  # (print array_sort_asc(a, b) keeps a_sorted, b_sorted)
                # extend: a column of the same name is replaced where it stands (Microsoft's binder keeps
                # its position); project: a repeated name gets a numeric suffix, as every result column
                if project and name in result.columns and name in added:
                    name = unique_name(name, result.columns)
                elif name in result.columns and name not in added and sorted_array_name(item) is not None:
                    name = unique_name(name, result.columns)  # array_sort_asc(a, b)[1]: b_sorted1 when taken
                added.add(name)
                result.columns[name] = type_
        return result

    def op_project(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        return self.op_extend(node, schema, scope, project=True)

    def bind_column_item(
        self,
        item: Node,
        schema: RowSchema,
        scope: Scope,
        counter: list[int],
        aggregate: bool = False,
        grouped: frozenset[str] = frozenset(),
    ) -> list[tuple[str, str]]:
        """Columns one item of extend/project/summarize produces: `A = expr`, `(A, B) = expr`, `expr`.
        `grouped`: summarize's by-columns, which an aggregate's `*` does not repeat."""
        if item.kind == "Assignment":
            value = item["value"]
            if aggregate and item["name"] is not None and value.kind == "Call" and value["callee"].kind == "Name":
                special = self.aggregate_columns(value, schema, scope, grouped)
                if special:
                    # Latest = arg_max(Time, *), Sample = take_any(A, B): the name replaces the first column's
                    # (Microsoft's binder: summarize L = arg_max(T, *) by K gives K, L, the other columns)
                    return [(name_text(item["name"]), special[0][1]), *special[1:]]
            type_ = self.bind_scalar(value, schema, scope)
            if item["name"] is not None:
                self.note_column(item["name"])
                return [(name_text(item["name"]), type_)]
            tuple_node = item.children[0]
            names = [name_text(c) for c in tuple_node.children if isinstance(c, Node) and c.kind == "Name"]
            outputs = series_columns(value)
            if outputs is None:
                return [(name, UNKNOWN) for name in names]
            # (a, b) = series_fit_line(x): the names take the first outputs, the rest keep their own names
            return [(names[i] if i < len(names) else name, type_) for i, (name, type_) in enumerate(outputs)]
        if aggregate and item.kind == "Call" and item["callee"].kind == "Name":
            special = self.aggregate_columns(item, schema, scope, grouped)
            if special is not None:
                return special
        sorted_names = sorted_arrays_names(item, schema.columns) if not aggregate else None
        if sorted_names is not None:  # array_sort_asc(x, y) after an x_sorted: x_sorted1, y_sorted
            self.bind_scalar(item, schema, scope)
            return [(name, DYNAMIC) for name in sorted_names]
        outputs = series_columns(item) if not aggregate else None
        if outputs is not None:
            self.bind_scalar(item, schema, scope)
            return outputs
        type_ = self.bind_scalar(item, schema, scope)
        name = self.column_name(item, counter, aggregate)
        while name == f"Column{counter[0]}" and name in schema.columns:
            # a ColumnN the input has is skipped (Microsoft's binder: by startofweek(T) after a Column1 is Column2)
            name = self.column_name(item, counter, aggregate)
        return [(name, type_)]

    def column_name(self, expression: Node, counter: list[int], aggregate: bool = False) -> str:
        return column_name(expression, counter, aggregate)

    def aggregate_columns(
        self, call: Node, schema: RowSchema, scope: Scope, grouped: frozenset[str] = frozenset()
    ) -> list[tuple[str, str]] | None:
        function = name_text(call["callee"])
        arguments = call["arguments"]["items"] or []
        if function in _ARG_FUNCTIONS and arguments:
            self.check_arity_by_name(function, len(arguments), call["callee"])
            # arg_max(T, A, N = e, *): a column per argument (N = e names its column N, as Microsoft's binder
            # does); `*` adds every column not grouped by and not read by an argument before it
            columns = []
            named = set(grouped)
            for argument in arguments:
                if argument.kind == "Star":
                    columns += [(name, type_) for name, type_ in schema.items() if name not in named]
                    if schema.open:
                        columns.append(("*", UNKNOWN))
                    continue
                name, value = named_argument(argument)
                columns.append((name, self.bind_scalar(value, schema, scope)))
                named |= {name, path_name(value)}
            return columns
        if function in ("take_any", "any", "take_anyif", "anyif") and arguments:
            # take_any(A, B) names its columns A, B; any(A, B) names them any_A, any_B; (*) takes every column
            prefix = "" if function.startswith("take_") else AGGREGATE_PREFIX[function]
            subjects = arguments[:1] if function.endswith("if") else arguments
            for argument in arguments[len(subjects) :]:
                self.check_predicate(self.bind_scalar(argument, schema, scope), function, argument)
            columns = []
            for index, argument in enumerate(subjects):
                if argument.kind == "Star":
                    columns += [(prefix + name, type_) for name, type_ in schema.items() if name not in grouped]
                    if schema.open:
                        columns.append(("*", UNKNOWN))
                    continue
                label = prefix + subject_name(argument)
                if not subject_name(argument) and not function.endswith("if") and (
                        function == "take_any" or len(subjects) > 1):  # fmt: skip
                    label = f"any_arg{index}"  # an expression without a column: named by its position
                columns.append((label, self.bind_scalar(argument, schema, scope)))
            return columns
        if function == "percentiles" and len(arguments) >= 2:
            self.bind_scalar(arguments[0], schema, scope)
            base = path_name(arguments[0]) or "Column1"
            names = []
            for argument in arguments[1:]:
                text = argument.text().strip().replace(".", "_")
                names.append((f"percentile_{base}_{text}", self.bind_scalar(arguments[0], schema, scope)))
            return names
        return None

    def op_project_names(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        operator = node["operator"]
        patterns = [c for c in node.children if isinstance(c, Node)]
        if operator == "project-away":
            result = schema.copy()
            for pattern in patterns:
                matched = self.match_columns(pattern, schema)
                for name in matched:
                    result.columns.pop(name, None)
            return result
        if operator == "project-keep":
            keep: list[str] = []
            for pattern in patterns:
                keep.extend(self.match_columns(pattern, schema))
            return RowSchema({n: schema.columns[n] for n in schema.columns if n in keep}, schema.open)
        ordered: list[str] = []
        for pattern in patterns:
            ordered.extend(n for n in self.match_columns(pattern, schema) if n not in ordered)
        rest = [n for n in schema.columns if n not in ordered]
        return RowSchema({n: schema.columns[n] for n in ordered + rest}, schema.open)

    def match_columns(self, pattern: Node, schema: RowSchema) -> list[str]:
        text = "".join(t.text for t in pattern.tokens()) if pattern.kind == "NamePattern" else name_text(pattern)
        if "*" in text:
            regex = re.compile("^" + ".*".join(re.escape(part) for part in text.split("*")) + "$")
            return [n for n in schema.columns if regex.match(n)]
        if text in schema.columns:
            self.note_column(pattern)
            return [text]
        if schema.open and text:
            self.note_column(pattern)
        if not schema.open and text:
            self.report("KQL202", f"unknown column '{text}'{self._suggest(text, schema.columns)}", pattern)
        return []

    def op_project_rename(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = schema.copy()
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        for item in (lists[0]["items"] if lists else []) or []:
            if item.kind != "Assignment" or item["name"] is None:
                continue
            new, old = name_text(item["name"]), item["value"]
            old_name = name_text(old) if old.kind == "Name" else ""
            self.note_column(item["name"])
            if old_name in result.columns or result.open:
                self.note_column(old)
            if old_name in result.columns:  # the renamed column keeps its place
                result.columns = {(new if name == old_name else name): t for name, t in result.columns.items()}
                continue
            if not result.open:
                self.report("KQL202", f"unknown column '{old_name}'{self._suggest(old_name, result.columns)}", old)
            result.columns[new] = UNKNOWN
        return result

    def op_summarize(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        has_by = any(isinstance(c, Token) and c.text == "by" for c in node.children)
        aggregates = lists[0] if lists and not (has_by and len(lists) == 1 and self._by_first(node)) else None
        groups = lists[-1] if has_by and lists else None
        if aggregates is groups:
            aggregates = None
        result = RowSchema({}, schema.open)
        counter = [0]
        # the by-columns are declared first (Microsoft's binder flags `x = count()` in `... by x`)
        self.check_declared_once([*((groups["items"] if groups else []) or []),
                                  *((aggregates["items"] if aggregates else []) or [])], node)  # fmt: skip
        for item in (groups["items"] if groups else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter):
                result.columns[unique_name(name, result.columns) if name in result.columns else name] = type_
        grouped = frozenset(result.columns)
        for item in (aggregates["items"] if aggregates else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter, True, grouped):
                if name == "*":
                    result.open = True
                    continue
                if name in result.columns:
                    name = unique_name(name, result.columns)
                result.columns[name] = type_
        return result

    def check_declared_once(self, items: list[Node], operator: Node) -> None:
        """KQL215: a column name written twice in one operator's list (`project a = 1, a = 2`, `project x, x`,
        `summarize count() by x, x`): Microsoft's binder reports "A column with the name 'a' is already
        declared" (KS171). Names the binder makes up (strlen_x twice) get a numeric suffix instead."""
        declared: set[str] = set()
        for item in items:
            names: list[Node] = []
            if item.kind == "Name":
                names = [item]
            elif item.kind == "Assignment" and item["name"] is not None:
                names = [item["name"]]
            elif item.kind == "Assignment":
                target = next(c for c in item.children if isinstance(c, Node))
                names = [c for c in target.children if isinstance(c, Node) and c.kind == "Name"]
            for name_node in names:
                name = name_text(name_node)
                if name in declared:
                    word = operator.first_token().text if operator.first_token() else operator.kind
                    self.report("KQL215", f"the column '{name}' is declared twice in '{word}'", name_node)
                declared.add(name)

    @staticmethod
    def _by_first(node: Node) -> bool:
        """True when `summarize by ...` has no aggregates."""
        for child in node.children[1:]:
            if isinstance(child, Token) and child.text == "by":
                return True
            if isinstance(child, Node) and child.kind == "List":
                return False
        return False

    def op_passthrough(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        for child in node.children:
            if isinstance(child, Node):
                self.bind_expressions_in(child, schema, scope)
        return schema

    def bind_expressions_in(self, node: Node, schema: RowSchema, scope: Scope) -> None:
        if node.kind == "List":
            for item in node["items"] or []:
                self.bind_scalar(item, schema, scope)
        elif node.kind in ("Parameter", "Legacy", "Name", "Properties"):
            return
        else:
            self.bind_scalar(node, schema, scope)

    def op_serialize(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        return self.op_extend(node, schema, scope)

    def op_count(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        names = [c for c in node.children if isinstance(c, Node) and c.kind == "Name"]
        return RowSchema({name_text(names[0]) if names else "Count": LONG})

    def op_distinct(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        if any(isinstance(c, Token) and c.text == "*" for c in node.children):
            return schema
        lists = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        result = RowSchema({}, schema.open)
        counter = [0]
        for item in (lists[0]["items"] if lists else []) or []:
            for name, type_ in self.bind_column_item(item, schema, scope, counter):
                result.columns[name] = type_
        return result

    def op_top(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        for child in node.children[1:]:
            if isinstance(child, Node):
                expression = child.children[0] if child.kind == "SortExpression" else child
                self.bind_scalar(expression, schema, scope)
        return schema

    def op_sort(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        for child in node.children:
            if isinstance(child, Node) and child.kind == "List":
                for item in child.children:
                    if isinstance(item, Node):
                        expression = item.children[0] if item.kind == "SortExpression" else item
                        self.bind_scalar(expression, schema, scope)
        return schema

    def op_join(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        right_node = node["right"]
        right = (
            self.bind_tabular(right_node, scope)
            if self.is_tabular(right_node, scope) or (right_node.kind in ("Name", "Parenthesized"))
            else RowSchema.unknown()
        )
        kind = "innerunique"
        for child in node.children:
            if isinstance(child, Node) and child.kind == "Parameter":
                tokens = [t for t in child.tokens()]
                if tokens and tokens[0].text == "kind" and len(tokens) >= 3:
                    kind = tokens[2].text.lower()
        lookup = node.kind == "Lookup"
        keys: set[str] = set()
        conditions = [c for c in node.children if isinstance(c, Node) and c.kind == "List"]
        for condition in (conditions[0]["items"] if conditions else []) or []:
            keys |= self.bind_join_condition(condition, schema, right, scope)
        where = [c for c in node.children[node.children.index(right_node) + 1 :] if isinstance(c, Node)]
        if not conditions and where:
            both = RowSchema({**schema.columns, **right.columns}, schema.open or right.open)
            self.bind_scalar(where[-1], both, scope)
        if kind in ("leftsemi", "leftanti", "anti", "leftantisemi", "semi"):
            return schema
        if kind in ("rightsemi", "rightanti", "rightantisemi"):
            return right
        result = schema.copy()
        result.open = schema.open or right.open
        for name, type_ in right.columns.items():
            if lookup and name in keys:
                continue
            if name in result.columns:  # the new name is unused on both sides (SHA1 -> SHA12 if SHA11 is right's)
                result.columns[unique_name(name, result.columns.keys() | right.columns.keys())] = type_
            else:
                result.columns[name] = type_
        return result

    def bind_join_condition(self, condition: Node, left: RowSchema, right: RowSchema, scope: Scope) -> set[str]:
        """Check `Key`, `$left.A == $right.B` (and `and` of those); return the shared key names."""
        keys: set[str] = set()
        for part in operands(condition, ("and",)):
            keys |= self.bind_join_key(part, left, right, scope)
        return keys

    def bind_join_key(self, condition: Node, left: RowSchema, right: RowSchema, scope: Scope) -> set[str]:
        if condition.kind == "Name":
            name = name_text(condition)
            self.note_column(condition)
            for side, schema in (("left", left), ("right", right)):
                if name not in schema.columns and not schema.open:
                    suggestion = self._suggest(name, schema.columns)
                    self.report("KQL202", f"unknown column '{name}' on the {side} side of the join{suggestion}",
                                condition)  # fmt: skip
            return {name}
        if condition.kind == "BinaryExpression":
            keys: set[str] = set()
            for side_node in (condition["left"], condition["right"]):
                side, name = side_reference(side_node)
                if side is None:
                    self.bind_scalar(side_node, RowSchema({**left.columns, **right.columns}, True), scope)
                    continue
                schema = left if side == "$left" else right
                self.note_column(side_node["member"])
                if name not in schema.columns and not schema.open:
                    where = "left" if side == "$left" else "right"
                    suggestion = self._suggest(name, schema.columns)
                    self.report("KQL202", f"unknown column '{name}' on the {where} side of the join{suggestion}",
                                side_node)  # fmt: skip
                if side == "$right":
                    keys.add(name)
            return keys
        self.bind_scalar(condition, RowSchema({**left.columns, **right.columns}, True), scope)
        return set()

    def op_union(self, node: Node, schema: RowSchema | None, scope: Scope) -> RowSchema:
        result = RowSchema({}, schema.open) if schema is not None else RowSchema()
        parts = [schema.columns] if schema is not None else []
        inner = False
        withsource = None
        for child in node.children[1:]:
            if not isinstance(child, Node):
                continue
            if child.kind == "Parameter":
                tokens = [t for t in child.tokens() if not t.missing]
                if tokens and tokens[0].text == "withsource" and len(tokens) >= 3:
                    withsource = string_value(tokens[-2].text) if tokens[-1].text == "]" else tokens[2].text
                inner = inner or [t.text.lower() for t in tokens] == ["kind", "=", "inner"]
                continue
            if child.kind == "NamePattern" and any(t.text == "*" for t in child.tokens()):
                pattern = "".join(t.text for t in child.tokens())
                regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
                matched = [t for t in self.env.tables if regex.match(t)]
                if not matched:
                    result.open = True
                for table in matched:
                    self.tables_read.add(table)
                    parts.append(self.env.tables[table])
                continue
            part = self.bind_tabular(child, scope)
            result.open = result.open or part.open
            parts.append(part.columns)
        result.columns = union_columns(parts, inner)
        if withsource:
            result.columns = {withsource: STRING, **result.columns}
        return result

    def op_union_operator(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        return self.op_union(node, schema, scope)

    def op_mv_expand(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = schema.copy()
        for child in node.children[1:]:
            if not isinstance(child, Node):
                continue
            if child.kind == "Parameter":
                tokens = [t for t in child.tokens() if not t.missing]
                if tokens and tokens[0].text == "with_itemindex" and len(tokens) >= 3:
                    result.columns[tokens[2].text] = LONG
                continue
            if child.kind != "ExpandItem":
                if child.kind not in ("Name",):
                    self.bind_scalar(child, schema, scope)
                continue
            item = child.children[0]
            to_type = DYNAMIC
            if len(child.children) > 2:
                type_node = child.children[2]
                inner = [c for c in type_node.children if isinstance(c, Node)]
                if inner:
                    to_type = normalize_type(name_text(inner[0]))
            if item.kind == "Assignment" and item["name"] is not None:
                self.bind_scalar(item["value"], schema, scope)
                result.columns[name_text(item["name"])] = to_type
            else:
                item_type = self.bind_scalar(item, schema, scope)
                if item_type not in (DYNAMIC, UNKNOWN):
                    self.report("KQL213", f"mv-expand needs a dynamic array or bag; '{item.text().strip()}' is "
                                f"{item_type} (wrap it in parse_json())", item)  # fmt: skip
                name = expanded_name(item) or "Column1"
                result.columns[name] = to_type
        return result

    def op_mv_apply(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        expanded = self.op_mv_expand(
            Node("MvExpand", [c for c in node.children if not (isinstance(c, Node) and c.kind == "SubQuery")]),
            schema,
            scope,
        )
        subquery = next((c for c in node.children if isinstance(c, Node) and c.kind == "SubQuery"), None)
        if subquery is None:
            return expanded
        # The sub-query sees each row's expanded values; its output replaces the expanded columns,
        # and the row's other columns stay.
        applied = self.bind_subquery(subquery, expanded, scope)
        item_columns = [name for name in expanded.columns if name not in schema.columns or name in applied.columns]
        result = RowSchema({n: t for n, t in schema.columns.items() if n not in item_columns}, schema.open)
        result.open = result.open or applied.open
        result.columns.update(applied.columns)
        return result

    def bind_subquery(self, subquery: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = schema
        for child in subquery.children:
            if isinstance(child, Node):
                if child.kind == "Pipe" or child.kind == "Name":
                    result = self.bind_tabular(child, scope) if child.kind == "Pipe" else result
                else:
                    result = self.bind_operator(child, result, scope)
        return result

    def op_parse(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = schema.copy()
        source_done = False
        for child in node.children[1:]:
            if not isinstance(child, Node) or child.kind == "Parameter":
                continue
            if not source_done:
                type_ = self.bind_scalar(child, schema, scope)
                if type_ not in (STRING, DYNAMIC, UNKNOWN):
                    self.report("KQL211", f"'parse' reads a string, not {type_}", child)
                source_done = True
                continue
            if child.kind == "ParsePattern":
                parts = child.children
                for index, part in enumerate(parts):
                    if isinstance(part, Node) and part.kind == "Name":
                        type_ = STRING
                        if (
                            index + 2 < len(parts)
                            and isinstance(parts[index + 1], Token)
                            and parts[index + 1].text == ":"
                        ):
                            type_ = normalize_type(name_text(parts[index + 2]))
                        # a column the input already has stays as it is, with its type (Microsoft's binder:
                        # `parse X with Port ...` on a table with Port:int leaves Port int)
                        result.columns.setdefault(name_text(part), type_)
        return result

    def op_parse_kv(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = schema.copy()
        expressions = [c for c in node.children if isinstance(c, Node)]
        if expressions:
            self.bind_scalar(expressions[0], schema, scope)
        for child in expressions:
            if child.kind == "Schema":
                result.columns.update(self._schema_of(child).columns)
        return result

    def op_make_series(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        result = RowSchema({}, schema.open)
        aggregates: list[tuple[str, str]] = []
        counter = [0]
        children = node.children
        index = 1
        section = "aggregates"
        by_columns: list[tuple[str, str]] = []
        axis = None
        while index < len(children):
            child = children[index]
            if isinstance(child, Token):
                word = child.text
                if word == "on":
                    section = "axis"
                elif word in ("from", "to", "step", "in"):
                    section = "range"
                elif word == "by":
                    section = "by"
                elif word == "default":
                    section = "default"
                index += 1
                continue
            if child.kind == "Parameter":
                index += 1
                continue
            if section == "aggregates":
                for name, _ in self.bind_column_item(child, schema, scope, counter, aggregate=True):
                    aggregates.append((name, DYNAMIC))
            elif section == "axis":
                self.bind_scalar(child, schema, scope)
                axis = path_name(child) or "Column1"
                section = "after-axis"
            elif section == "by":
                if child.kind == "List":
                    for item in child["items"] or []:
                        by_columns.extend(self.bind_column_item(item, schema, scope, counter))
            else:
                self.bind_scalar(child, schema, scope)
                if section == "default":
                    section = "aggregates"
            index += 1
        for name, type_ in by_columns:
            result.columns[name] = type_
        for name, type_ in aggregates:
            result.columns[name] = type_
        if axis:
            result.columns[axis] = DYNAMIC
        return result

    def op_evaluate(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        calls = [c for c in node.children if isinstance(c, Node) and c.kind == "Call"]
        declared = next((c for c in node.children if isinstance(c, Node) and c.kind == "Schema"), None)
        if not calls:
            return RowSchema.unknown()
        call = calls[0]
        name = name_text(call["callee"])
        arguments = call["arguments"]["items"] or []
        info = catalog.lookup(name, self.env.dialect)
        if info is None or info.kind != "plugin":
            self.report(
                "KQL203", f"unknown plugin '{name}'{self._suggest(name, catalog.plugin_names())}", call["callee"]
            )
            return RowSchema.unknown()
        self.check_arity(info, len(arguments), call["callee"])
        if name == "ipv4_lookup" and arguments:
            lookup_table = arguments[0]
            lookup = (
                self.bind_tabular(lookup_table, scope)
                if self.is_tabular(lookup_table, scope)
                else (RowSchema.unknown())
            )
            if len(arguments) > 1:
                self.bind_scalar(arguments[1], schema, scope)
            if len(arguments) > 2:
                self.bind_scalar(arguments[2], lookup, scope)
            result = schema.copy()
            result.open = schema.open or lookup.open
            for column, type_ in lookup.columns.items():
                result.columns.setdefault(column, type_)
            return result
        for argument in arguments:
            if argument.kind != "Assignment":
                self.bind_argument(argument, schema, scope)
        if declared is not None:
            return self._schema_of(declared)
        if name == "bag_unpack" and arguments:
            # The reference (bag_unpack plugin): the input's columns but the unpacked one, then a column per
            # slot of the bags, which the data decides.
            unpacked = expression_name(arguments[0])
            return RowSchema({n: t for n, t in schema.columns.items() if n != unpacked}, open=True)
        if name == "pivot" and arguments:
            # The reference (pivot plugin): the output has the by-columns (without them, every input column but
            # the pivot column) and one column per value of the pivot column, which the data decides.
            kept = [expression_name(a) for a in arguments[2:]]
            if not arguments[2:]:
                kept = [n for n in schema.columns if n != expression_name(arguments[0])]
            return RowSchema({n: schema.columns[n] for n in kept if n in schema.columns}, open=True)
        return RowSchema.unknown()

    def op_invoke(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        call = next((c for c in node.children if isinstance(c, Node) and c.kind == "Call"), None)
        if call is None:
            return RowSchema.unknown()
        callee = call["callee"]
        name = name_text(callee) if callee.kind == "Name" else ""
        symbol = scope.lookup(name)
        if symbol is not None and symbol.kind == "function":
            return self.bind_user_function(call, symbol, scope, schema)
        for argument in call["arguments"]["items"] or []:
            self.bind_argument(argument, schema, scope)
        if name in self.env.function_tables:
            return add_columns(schema, self.env.function_tables[name])
        info = catalog.lookup(name, self.env.dialect)
        if info is None:
            self.report_unknown_function(name, callee, scope)
        return RowSchema({**schema.columns}, open=True)

    def op_as(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        names = [c for c in node.children if isinstance(c, Node) and c.kind == "Name"]
        if names:
            scope.define(name_text(names[-1]), Symbol("table", schema=schema.copy()))
        return schema

    def op_search(self, node: Node, schema: RowSchema | None, scope: Scope) -> RowSchema:
        tables = next((c for c in node.children if isinstance(c, Node) and c.kind == "Tables"), None)
        if tables is not None:
            source = RowSchema()
            for child in tables.children:
                if isinstance(child, Node):
                    part = (
                        self.bind_tabular(child, scope)
                        if child.kind != "NamePattern"
                        else (self.op_union(Node("Union", [Token(T.IDENT, "union", 0), child]), None, scope))
                    )
                    source.open = source.open or part.open
                    for name, type_ in part.columns.items():
                        source.columns.setdefault(name, type_)
        elif schema is not None:
            source = schema
        else:
            source = RowSchema.unknown()
        predicate = [c for c in node.children if isinstance(c, Node) and c.kind not in ("Tables", "Parameter")]
        if predicate:
            self.bind_search_predicate(predicate[-1], source, scope)
        return RowSchema({"$table": STRING, **source.columns}, source.open)

    def bind_search_predicate(self, node: Node, schema: RowSchema, scope: Scope) -> None:
        """Search terms are bare strings; `Column:"value"` names a column."""
        if node.kind == "BinaryExpression" and node["op"].text in ("and", "or"):
            for part in operands(node, ("and", "or")):
                self.bind_search_predicate(part, schema, scope)
            return
        if node.kind == "BinaryExpression" and node["op"].text == ":":
            left = node["left"]
            if left.kind == "Name" and name_text(left) not in schema.columns and not schema.open:
                self.report("KQL202", f"unknown column '{name_text(left)}'", left)
            return
        if node.kind == "Literal":
            return
        self.bind_scalar(node, RowSchema(schema.columns, True), scope)

    def op_sample(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        expressions = [c for c in node.children if isinstance(c, Node)]
        for expression in expressions:
            self.bind_scalar(expression, schema, scope)
        if len(expressions) > 1:  # sample-distinct N of Column
            return RowSchema({path_name(expressions[1]) or "Column1": self.bind_scalar(expressions[1], schema, scope)})
        return schema

    def op_render(self, node: Node, schema: RowSchema, scope: Scope) -> RowSchema:
        return schema


_ARG_FUNCTIONS = ("arg_max", "arg_min", "argmax", "argmin")


def unique_name(name: str, taken: Collection[str]) -> str:
    """`name` with the smallest numeric suffix (1, 2, ...) that makes it new: how Kusto's binder names a
    result column whose name is already taken (join's right side: DeviceId1; two make_set(x): set_x1)."""
    index = 1
    while f"{name}{index}" in taken:
        index += 1
    return f"{name}{index}"


def column_name(expression: Node, counter: list[int], aggregate: bool = False) -> str:
    """Kusto's name for an unnamed expression column (the emulator names its columns with it too)."""
    if aggregate and expression.kind == "Call" and expression["callee"].kind == "Name":
        function = name_text(expression["callee"])
        arguments = expression["arguments"]["items"] or []
        info = catalog.lookup(function)
        if info is None or info.kind == "aggregate":
            return aggregate_name(function, arguments)
        if function in _NAME_KEEPING_FUNCTIONS and arguments:
            # round(avg(X), 2) is avg_X, log(count()) count_ (Microsoft's binder); strcat(max(X), 'a') Column1
            return column_name(arguments[0], counter, aggregate)
    name = expression_name(expression)
    if name:
        return name
    counter[0] += 1
    return f"Column{counter[0]}"


def series_columns(node: Node) -> list[tuple[str, str]] | None:
    """The columns of a function that returns several: a series function (series_stats(x) ->
    series_stats_x_min, ...) or array_sort_asc/desc of several arrays (sorted_arrays_names); None for
    another expression. Names and types as Microsoft's binder gives them (kqlcheck --result): the function,
    the series column's name, the output's name; the reference pages of these functions list the same
    outputs."""
    sorted_names = sorted_arrays_names(node)
    if sorted_names is not None:
        return [(name, DYNAMIC) for name in sorted_names]
    if node.kind != "Call" or node["callee"].kind != "Name":
        return None
    function = name_text(node["callee"])
    arguments = node["arguments"]["items"] or []
    outputs = _SERIES_OUTPUTS.get(function)
    subject = expression_name(arguments[0]) if arguments else ""
    if outputs is None or not subject:
        return None
    return [(f"{function}_{subject}_{name}", type_) for name, type_ in outputs]


_FIT = [("rsquare", REAL), ("slope", REAL), ("variance", REAL), ("rvariance", REAL), ("interception", REAL)]
_DECOMPOSED = [("baseline", DYNAMIC), ("seasonal", DYNAMIC), ("trend", DYNAMIC), ("residual", DYNAMIC)]
_SERIES_OUTPUTS: dict[str, list[tuple[str, str]]] = {
    "series_fit_line": [*_FIT, ("line_fit", DYNAMIC)],
    "series_fit_2lines": [("rsquare", REAL), ("split_idx", LONG), ("variance", REAL), ("rvariance", REAL),
                          ("line_fit", DYNAMIC), *[(f"{side}_{n}", REAL) for side in ("right", "left")
                          for n in ("rsquare", "slope", "interception", "variance", "rvariance")]],
    "series_fit_poly": [("rsquare", REAL), ("coefficients", DYNAMIC), ("variance", REAL), ("rvariance", REAL),
                        ("poly_fit", DYNAMIC)],
    "series_stats": [("min", REAL), ("min_idx", LONG), ("max", REAL), ("max_idx", LONG), ("avg", REAL),
                     ("stdev", REAL), ("variance", REAL)],
    "series_decompose": _DECOMPOSED,
    "series_decompose_forecast": _DECOMPOSED,
    "series_decompose_anomalies": [("ad_flag", DYNAMIC), ("ad_score", DYNAMIC), ("baseline", DYNAMIC)],
    "series_periods_detect": [("periods", DYNAMIC), ("scores", DYNAMIC)],
    "series_periods_validate": [("periods", DYNAMIC), ("scores", DYNAMIC)],
}  # fmt: skip


def print_name(index: int) -> str:
    """`print` names its unnamed expressions by their place in the list, from 0: print 1 -> print_0 (the
    reference's print examples; Microsoft's binder)."""
    return f"print_{index}"


def expression_name(node: Node) -> str:
    """The name Microsoft's binder gives an unnamed column computed by `node`, or "" (then Column1, ...):
    a column or path keeps its name (a.b -> a_b, a[0] -> a_0), so do some calls of one (tostring(A) -> A,
    parse_json(A).b -> A_b), and strlen(A) is strlen_A. Which calls keep a name was asked of Microsoft's binder
    (kqlcheck --result), function by function; a call not listed gets ColumnN."""
    if node.kind == "Name":
        return name_text(node)
    if node.kind == "Parenthesized":
        inner = [c for c in node.children if isinstance(c, Node)]
        return expression_name(inner[0]) if len(inner) == 1 else ""
    if node.kind == "MemberAccess":
        base = expression_name(node["target"])
        return f"{base}_{name_text(node['member'])}" if base else ""
    if node.kind == "ElementAccess":
        several = sorted_array_name(node)
        if several is not None:
            return several
        base = expression_name(node["target"])
        index = node["index"]
        key = string_literal(index) if index is not None else None
        if key is None and index is not None and index.kind == "Literal" and index.text().strip().isdigit():
            key = index.text().strip()
        return f"{base}_{key}" if base and key else ""
    if node.kind == "Call" and node["callee"].kind == "Name":
        function = name_text(node["callee"])
        arguments = node["arguments"]["items"] or []
        if not arguments:
            return ""
        if function == "column_ifexists":
            return string_literal(arguments[0]) or ""
        if function in _NAMED_AFTER_ARGUMENT:  # strlen(A) -> strlen_A, strlen('x') -> strlen_
            return f"{function}_{expression_name(arguments[0])}"
        if function in _NAME_KEEPING_FUNCTIONS:
            return expression_name(arguments[0])
    return ""


def sorted_arrays_names(call: Node, taken: Collection[str] = ()) -> list[str] | None:
    """The columns `array_sort_asc(a, b, ...)` (or _desc) of several arrays returns, one per array, named as
    Microsoft's binder names them (kqlcheck --result): the array's expression name and `_sorted`
    (`array1_sorted` for one without a name), suffixed where `taken` (the input's columns) or an earlier
    array of the call has the name (`x_sorted1`, `x_sorted2`). None for a call that sorts one array, or
    another expression."""
    if call.kind != "Call" or call["callee"].kind != "Name":
        return None
    if name_text(call["callee"]) not in ("array_sort_asc", "array_sort_desc"):
        return None
    arrays = list(call["arguments"]["items"] or [])
    if arrays and arrays[-1].kind in ("Literal", "Name") and arrays[-1].text().strip() in BOOL_LITERALS:
        arrays = arrays[:-1]  # nulls_last (true and false parse as names)
    if len(arrays) < 2:
        return None
    names: list[str] = []
    used = set(taken)
    for position, array in enumerate(arrays):
        name = f"{expression_name(array) or f'array{position}'}_sorted"
        name = unique_name(name, used) if name in used else name
        names.append(name)
        used.add(name)
    return names


def sorted_array_name(node: Node) -> str | None:
    """`array_sort_asc(a, b)[1]` (or _desc) is the second array it returns, and has that array's column name
    (`b_sorted`); None for another expression."""
    if node.kind != "ElementAccess":
        return None
    names = sorted_arrays_names(node["target"])
    index = node["index"]
    text = index.text().strip() if index is not None else ""
    if names is None or not text.isdigit() or int(text) >= len(names):
        return None
    return names[int(text)]


def named_argument(argument: Node) -> tuple[str, Node]:
    """The column name and value of an argument of arg_max/arg_min: `N = e` is N and e, else e's name."""
    if argument.kind == "Assignment":
        return name_text(argument["name"]), argument["value"]
    return expression_name(argument) or "Column1", argument


def union_columns(parts: list[dict[str, str]], inner: bool = False) -> dict[str, str]:
    """The columns of a union of `parts`. The reference (union operator, kind): with outer, "one column for
    each name and type": a column that comes with several types gives one column per type, its name
    suffixed by "_" and the type (x_long, x_string); with inner, only the columns all inputs share.
    Microsoft's binder (kqlcheck --result) refines this: a column two inputs already gave with one type keeps
    that type and name when a later input brings another type (union (print A=int(1)), (print A=int(1)),
    (print A='a') is A:int, while (int, string, int) gives A_int, A_string). A type the binder does not know
    (unknown) is not taken for another type: it joins the known one."""
    types: dict[str, list[str]] = {}
    legs: dict[str, int] = {}
    for part in parts:
        for name, type_ in part.items():
            known = types.setdefault(name, [])
            legs[name] = legs.get(name, 0) + 1
            if type_ in known or (type_ == UNKNOWN and known):
                continue
            if known == [UNKNOWN]:
                known[0] = type_
            elif len(known) == 1 and legs[name] > 2:
                continue  # merged from two inputs already: keeps its type
            else:
                known.append(type_)
    if inner:
        types = {name: known for name, known in types.items() if all(name in part for part in parts)}
    columns: dict[str, str] = {}
    for name, known in types.items():
        if len(known) == 1:
            columns[name] = known[0]
        else:
            columns.update((f"{name}_{type_}", type_) for type_ in known)
    return columns


def add_columns(base: RowSchema | None, added: RowSchema) -> RowSchema:
    """The input of an enrichment (invoke FileProfile()) with the columns it adds: a name the input already
    has comes back with a numeric suffix, as join names the right side's (see unique_name)."""
    columns = dict(base.columns) if base is not None else {}
    for name, type_ in added.columns.items():
        columns[unique_name(name, columns) if name in columns else name] = type_
    return RowSchema(columns, added.open or (base.open if base is not None else False))


# Functions whose result column takes the name of their first argument: `by bin(Timestamp, 1h)` is Timestamp.
# Asked of Microsoft's binder (kqlcheck --result, @kusto/language-service-next 12.4.1): these keep the name;
# tolower, toupper, trim, strcat, startofweek/month/year, endof*, datetime_utc_to_local, sign, ... do not.
_NAME_KEEPING_FUNCTIONS = frozenset(
    {"tostring", "toint", "tolong", "toreal", "todouble", "tobool", "toboolean", "toguid", "totimespan",
     "totime", "todecimal", "todatetime", "todynamic", "toobject", "bin", "bin_at", "bin_auto", "floor", "round",
     "ceiling", "abs", "startofday", "format_datetime", "tohex", "log", "exp", "sqrt", "pow", "parse_json",
     "parse_xml", "split"}
)  # fmt: skip
_NAMED_AFTER_ARGUMENT = frozenset({"strlen", "string_size"})


_OPERATORS: dict[str, Callable[[OperatorBinder, Node, RowSchema, Scope], RowSchema]] = {
    "Where": OperatorBinder.op_where,
    "Extend": OperatorBinder.op_extend,
    "Project": OperatorBinder.op_project,
    "ProjectNames": OperatorBinder.op_project_names,
    "ProjectRename": OperatorBinder.op_project_rename,
    "Summarize": OperatorBinder.op_summarize,
    "Sort": OperatorBinder.op_sort,
    "Top": OperatorBinder.op_top,
    "Take": OperatorBinder.op_passthrough,
    "Count": OperatorBinder.op_count,
    "Distinct": OperatorBinder.op_distinct,
    "Join": OperatorBinder.op_join,
    "Lookup": OperatorBinder.op_join,
    "Union": OperatorBinder.op_union_operator,
    "MvExpand": OperatorBinder.op_mv_expand,
    "MvApply": OperatorBinder.op_mv_apply,
    "Parse": OperatorBinder.op_parse,
    "ParseKv": OperatorBinder.op_parse_kv,
    "MakeSeries": OperatorBinder.op_make_series,
    "Render": OperatorBinder.op_render,
    "Evaluate": OperatorBinder.op_evaluate,
    "Invoke": OperatorBinder.op_invoke,
    "As": OperatorBinder.op_as,
    "Serialize": OperatorBinder.op_serialize,
    "Search": OperatorBinder.op_search,
    "Sample": OperatorBinder.op_sample,
}
