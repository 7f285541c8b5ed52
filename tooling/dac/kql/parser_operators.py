"""Query operators for the KQL parser: OperatorParser, the mixin of Parser that reads pipes
(`source | operator | ...`) and each query operator with one `op_*` method, looked up by name in
OPERATORS (those in LOOSE_OPERATORS are read loosely: balanced tokens up to the next '|'), with the
clause helpers operators share: parameters (kind=..., hint.x=...), expression and sort lists,
sub-queries and table lists."""

from __future__ import annotations

from collections.abc import Callable

from .lexer import T, Token
from .parser_core import ParserCore
from .syntax import Node

# Words that end an operator's clause and never start an expression there.
CLAUSE_WORDS = frozenset({"by", "on", "with", "to", "step", "from", "of", "limit", "as", "asc", "desc", "nulls"})

# Query operators with a syntax this parser reads loosely (balanced tokens up to the next '|').
LOOSE_OPERATORS = frozenset(
    {"scan", "partition", "fork", "facet", "consume", "project-smart", "make-graph", "graph-match",
     "graph-merge", "graph-to-table", "graph-shortest-paths", "graph-mark-components", "assert-schema",
     "execute-show-command", "macro-expand", "top-hitters", "reduce", "getschema"}
)  # fmt: skip


class OperatorParser(ParserCore):
    """Parser's operator methods; the expressions, names and schemas they read are ExpressionParser's."""

    # ----------------------------------------------------------------- tabular expressions
    def parse_pipe_expression(self) -> Node:
        if self.at_punct("|"):
            self.report("KQL007", "the query starts with '|': a pipe needs a table or expression before it", self.tok)
            source: Node = Node("MissingSource", [])
        else:
            source = self.parse_source()
        if not self.at_punct("|"):
            return source
        children: list = [source]
        operators: list[Node] = []
        while self.at_punct("|"):
            pipe = self.advance()
            operator = self.parse_operator()
            children.extend([pipe, operator])
            operators.append(operator)
        return Node("Pipe", children, source=source, operators=operators)

    def parse_source(self) -> Node:
        token = self.tok
        if token.kind is T.IDENT:
            word = token.text
            next_token = self.peek()
            if word == "union" and not next_token.is_punct("="):
                return self.op_union()
            # `print (1 + 2)` and `print(x)` are the print operator too: Microsoft's parser reads print as a
            # keyword whatever follows (`let print = ...` is a syntax error there)
            if word == "print" and not next_token.is_punct("="):
                return self.op_print()
            if word == "range" and next_token.kind is T.IDENT and self.peek(2).is_word("from"):
                return self.op_range()
            if word == "search" and not next_token.is_punct("="):  # search("x") too, as in Microsoft's parser
                return self.op_search()
            if word == "find" and not next_token.is_punct("=", "("):
                return self.op_find()
            if word == "evaluate" and next_token.kind is T.IDENT:
                return self.op_evaluate()
        return self.parse_expression()

    def parse_operator(self) -> Node:
        token = self.tok
        if token.kind is not T.IDENT:
            self.report("KQL004", f"expected a query operator after '|', found {self.describe(token)}", token)
            error = self.skip_until(self.at_operator_end)
            return error or Node("MissingOperator", [])
        handler = OPERATORS.get(token.text)
        if handler is None:
            if token.text in LOOSE_OPERATORS:
                return self.op_loose()
            self.report("KQL005", f"unknown query operator '{token.text}'", token)
            error = self.skip_until(self.at_operator_end)
            return error or Node("MissingOperator", [])
        node = handler(self)
        if not self.at_operator_end():
            self.report(
                "KQL004",
                f"unexpected {self.describe(self.tok)} in '{token.text}': expected ',', '|' or the end of the operator",
                self.tok,
            )
            error = self.skip_until(self.at_operator_end)
            if error is not None:
                node.children.append(error)
        return node

    # ----------------------------------------------------------------- operator helpers
    def parse_params(self, names: frozenset[str]) -> list:
        """Operator properties before the operands: kind=inner, hint.strategy=shuffle, withsource=T."""
        children: list = []
        while self.tok.kind is T.IDENT:
            word = self.tok.text
            if word in names and self.peek().is_punct("="):
                parts = [self.advance(), self.advance()]
            elif (
                word == "hint"
                and self.peek().is_punct(".")
                and self.peek(2).kind is T.IDENT
                and self.peek(3).is_punct("=")
            ):
                parts = [self.advance(), self.advance(), self.advance(), self.advance()]
            else:
                break
            value = self.tok
            if value.kind in (T.IDENT, T.STRING, T.NUMBER, T.TIMESPAN, T.TYPED_LITERAL):
                parts.append(self.advance())
            elif value.is_punct("[") and self.peek().kind is T.STRING:
                parts.append(self.parse_name())
            elif value.is_punct("-") and self.peek().kind is T.NUMBER:
                parts.extend([self.advance(), self.advance()])
            else:
                self.report("KQL006", f"expected a value for '{word}', found {self.describe(value)}", value)
            children.append(Node("Parameter", parts))
        return children

    def parse_expression_list(self, *, assignments: bool = False, stop_words: frozenset[str] = CLAUSE_WORDS) -> Node:
        """expr, expr, ... (with `Name = expr` and `(A, B) = expr` when `assignments`)."""
        children: list = []
        items: list[Node] = []
        while True:
            if self.at_operator_end() or (self.tok.kind is T.IDENT and self.tok.text in stop_words and items):
                after = " after ','" if items else ""
                self.report(
                    "KQL006",
                    f"expected an expression{after}, found {self.describe(self.tok)}",
                    self.tok,
                )
                break
            item = self.parse_assignment() if assignments else self.parse_sort_expression(plain=True)
            children.append(item)
            items.append(item)
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("List", children, items=items)

    def parse_sort_expression(self, plain: bool = False) -> Node:
        expression = self.parse_expression()
        if plain:
            return expression
        children: list = [expression]
        if self.at_word("asc", "desc", "granny-asc", "granny-desc"):
            children.append(self.advance())
        if self.at_word("nulls") and self.peek().is_word("first", "last"):
            children.extend([self.advance(), self.advance()])
        return Node("SortExpression", children) if len(children) > 1 else expression

    def parse_sort_list(self) -> Node:
        children: list = []
        while True:
            children.append(self.parse_sort_expression())
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("List", children)

    # ----------------------------------------------------------------- operators
    def op_where(self) -> Node:
        head = self.advance()
        predicate = self.parse_expression()
        return Node("Where", [head, predicate], predicate=predicate)

    def op_extend(self) -> Node:
        head = self.advance()
        if head.text == "project" and self.at_operator_end():  # `project` alone is valid (and useless)
            return Node("Project", [head], columns=Node("List", [], items=[]))
        columns = self.parse_expression_list(assignments=True)
        return Node("Extend" if head.text == "extend" else "Project", [head, columns], columns=columns)

    def op_project_by_names(self) -> Node:
        """project-by-names "Name", "C*", dynamic([...]), column_names_of(T): columns chosen by string values."""
        head = self.advance()
        return Node("ProjectByNames", [head, self.parse_expression_list(assignments=False)])

    def op_serialize(self) -> Node:
        head = self.advance()
        if self.at_operator_end():
            return Node("Serialize", [head])
        return Node("Serialize", [head, self.parse_expression_list(assignments=True)])

    def op_print(self) -> Node:
        head = self.advance()
        if self.at_operator_end():
            return Node("Print", [head])
        return Node("Print", [head, self.parse_expression_list(assignments=True)])

    def op_name_patterns(self) -> Node:
        head = self.advance()
        children: list = [head]
        while not self.at_operator_end():
            children.append(self.parse_name_pattern())
            if head.text == "project-reorder" and self.at_word("asc", "desc", "granny-asc", "granny-desc"):
                children.append(self.advance())
            if self.at_punct(","):
                children.append(self.advance())
                if self.at_operator_end():
                    self.report(
                        "KQL006", f"expected a column name after ',', found {self.describe(self.tok)}", self.tok
                    )
                continue
            break
        return Node("ProjectNames", children, operator=head.text)

    def op_project_rename(self) -> Node:
        head = self.advance()
        return Node("ProjectRename", [head, self.parse_expression_list(assignments=True)])

    def op_summarize(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        if not self.at_word("by") and not self.at_operator_end():
            children.append(self.parse_expression_list(assignments=True, stop_words=frozenset({"by"})))
        if self.at_word("by"):
            children.append(self.advance())
            children.append(self.parse_expression_list(assignments=True, stop_words=frozenset()))
        return Node("Summarize", children)

    def op_sort(self) -> Node:
        head = self.advance()
        by = self.expect_word("by", f"after '{head.text}'")
        return Node("Sort", [head, by, self.parse_sort_list()])

    def op_top(self) -> Node:
        head = self.advance()
        count = self.parse_expression()
        by = self.expect_word("by", "after the number of rows in 'top'")
        return Node("Top", [head, count, by, self.parse_sort_expression()])

    def op_take(self) -> Node:
        head = self.advance()
        return Node("Take", [head, self.parse_expression()])

    def op_count(self) -> Node:
        head = self.advance()
        if self.at_word("as"):
            return Node("Count", [head, self.advance(), self.parse_name()])
        return Node("Count", [head])

    def op_distinct(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        if self.at_punct("*"):
            children.append(self.advance())
        else:
            children.append(self.parse_expression_list())
        return Node("Distinct", children)

    def op_join(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "hint", "withsource"}))]
        right = self.parse_join_right()
        children.append(right)
        if self.at_word("on"):
            children.append(self.advance())
            children.append(self.parse_expression_list(stop_words=frozenset()))
        elif self.at_word("where") and head.text == "join":
            children.append(self.advance())
            children.append(self.parse_expression())
        elif head.text == "lookup":  # a join without `on` is the binder's to report; lookup's grammar needs it
            self.report("KQL002", f"expected 'on' and the lookup columns, found {self.describe(self.tok)}", self.tok)
        return Node("Join" if head.text == "join" else "Lookup", children, right=right)

    def parse_join_right(self) -> Node:
        if self.at_punct("("):
            return self.parse_primary()
        return self.parse_unary()

    def op_union(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "withsource", "isfuzzy", "hint"}))]
        while True:
            if self.at_punct("("):
                children.append(self.parse_primary())
            elif self.tok.kind is T.IDENT and self.peek().is_punct("(", "."):
                children.append(self.parse_unary())
            else:
                children.append(self.parse_name_pattern())
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        return Node("Union", children)

    def op_mv_expand(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "bagexpansion", "with_itemindex", "hint"}))]
        children.extend(self.parse_expand_items())
        if self.at_word("limit"):
            children.extend([self.advance(), self.parse_expression()])
        return Node("MvExpand", children)

    def parse_expand_items(self) -> list:
        children: list = []
        while True:
            item = [self.parse_assignment()]
            if self.at_word("to") and self.peek().is_word("typeof"):
                item.extend([self.advance(), self.parse_unary()])
            children.append(Node("ExpandItem", item))
            if self.at_punct(","):
                children.append(self.advance())
                continue
            return children

    def op_mv_apply(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "with_itemindex", "hint"}))]
        children.extend(self.parse_expand_items())
        if self.at_word("limit"):
            children.extend([self.advance(), self.parse_expression()])
        if self.at_word("id"):  # legacy: mv-apply ... id=...
            children.extend(self.parse_params(frozenset({"id"})))
        on = self.expect_word("on", "before the sub-query of 'mv-apply'")
        children.append(on)
        children.append(self.parse_subquery())
        return Node("MvApply", children)

    def parse_subquery(self) -> Node:
        """( operators... ) where the rows come from the enclosing operator (mv-apply, partition)."""
        if not self.nest():
            return self.too_deep()
        subquery = self._subquery()
        self.depth -= 1
        return subquery

    def _subquery(self) -> Node:
        open_paren = self.expect_punct("(")
        children: list = [open_paren]
        if self.tok.kind is T.IDENT and (self.tok.text in OPERATORS or self.tok.text in LOOSE_OPERATORS):
            children.append(self.parse_operator())
            while self.at_punct("|"):
                children.extend([self.advance(), self.parse_operator()])
        elif self.at_punct(")"):
            self.report("KQL006", "expected a query operator inside the sub-query '( )'", self.tok)
        else:
            children.append(self.parse_pipe_expression())
        children.append(self.expect_punct(")", opened=open_paren if not open_paren.missing else None))
        return Node("SubQuery", children)

    def op_parse(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "flags", "hint"}))]
        children.append(self.parse_expression())
        children.append(self.expect_word("with", f"after the source expression of '{head.text}'"))
        pattern: list = []
        while not self.at_operator_end():
            token = self.tok
            if token.kind is T.STRING or token.is_punct("*"):
                pattern.append(self.advance())
            elif token.kind is T.IDENT or token.is_punct("["):
                pattern.append(self.parse_name())
                if self.at_punct(":"):
                    pattern.extend([self.advance(), self.parse_type()])
                if self.tok is token:  # a malformed name consumed nothing: stop rather than loop
                    break
            elif token.is_punct(","):
                pattern.append(self.advance())
            else:
                break
        if not pattern:
            self.report("KQL006", f"expected the '{head.text}' pattern, found {self.describe(self.tok)}", self.tok)
        children.append(Node("ParsePattern", pattern))
        return Node("Parse", children)

    def op_parse_kv(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_expression()]
        children.append(self.expect_word("as", "after the source expression of 'parse-kv'"))
        children.append(self.parse_schema())
        if self.at_word("with"):
            children.append(self.advance())
            children.append(self.parse_property_list())
        return Node("ParseKv", children)

    def op_make_series(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind", "hint"}))]
        while True:
            children.append(self.parse_assignment())
            if self.at_word("default") and self.peek().is_punct("="):
                children.extend([self.advance(), self.advance(), self.parse_expression()])
            if self.at_punct(","):
                children.append(self.advance())
                continue
            break
        children.append(self.expect_word("on", "before the axis column of 'make-series'"))
        children.append(self.parse_unary())
        if self.at_word("in") and self.peek().is_word("range"):
            children.extend([self.advance(), self.parse_expression()])
        else:
            for word in ("from", "to"):
                if self.at_word(word):
                    children.extend([self.advance(), self.parse_expression()])
            children.append(self.expect_word("step", "in 'make-series'"))
            children.append(self.parse_expression())
        if self.at_word("by"):
            children.extend([self.advance(), self.parse_expression_list(assignments=True, stop_words=frozenset())])
        return Node("MakeSeries", children)

    def op_render(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_name()]
        if self.at_word("with"):
            children.extend([self.advance(), self.parse_property_list()])
        # legacy forms on the same line: render x title="...", render piechart by col
        legacy: list[Token] = []
        while not self.at_operator_end() and not self._starts_line(self.tok):
            legacy.append(self.advance())
        if legacy:
            children.append(Node("Legacy", legacy))
        return Node("Render", children)

    def op_evaluate(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        children.append(self.parse_unary())
        if self.at_punct(":") and self.peek().is_punct("("):  # evaluate pivot(x) : (a:string, ...)
            children.extend([self.advance(), self.parse_schema(allow_star=True)])
        return Node("Evaluate", children)

    def op_invoke(self) -> Node:
        head = self.advance()
        target = self.parse_unary()
        if target.kind != "Call":
            self.report(
                "KQL002",
                f"expected a function call after 'invoke', such as f(), found {self.describe(self.tok)}",
                self.tok,
            )
        return Node("Invoke", [head, target])

    def op_as(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset())]
        children.append(self.parse_name())
        return Node("As", children)

    def op_search(self) -> Node:
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"kind"}))]
        if self.at_word("in") and self.peek().is_punct("("):
            children.append(self.advance())
            children.append(self.parse_table_list())
        if self.at_punct("*") and self.at_operator_end_after(1):
            children.append(self.advance())
        else:
            self.in_search = True
            try:
                children.append(self.parse_expression())
            finally:
                self.in_search = False
        return Node("Search", children)

    def _starts_line(self, token: Token) -> bool:
        previous = self.tokens[self.i - 1] if self.i > 0 else None
        return "\n" in token.leading or (previous is not None and previous.trailing.endswith("\n"))

    def at_operator_end_after(self, ahead: int) -> bool:
        token = self.peek(ahead)
        return token.kind is T.EOF or token.is_punct("|", ";", ")")

    def op_find(self) -> Node:
        """find [withsource=C] [in (T, ...)] where predicate [project-smart | project a, b]"""
        head = self.advance()
        children: list = [head, *self.parse_params(frozenset({"withsource", "datascope", "hint"}))]
        if self.at_word("in") and self.peek().is_punct("("):
            children.append(self.advance())
            children.append(self.parse_table_list())
        children.append(self.expect_word("where", "in 'find'"))
        children.append(self.parse_expression())
        if self.at_word("project-smart"):
            children.append(self.advance())
        elif self.at_word("project"):
            children.extend([self.advance(), self.parse_expression_list()])
        return Node("Find", children)

    def parse_table_list(self) -> Node:
        open_paren = self.advance()
        tables: list = [open_paren]
        while not self.at_punct(")") and not self.at_eof():
            tables.append(self.parse_name_pattern() if not self.peek().is_punct("(", ".") else self.parse_unary())
            if self.at_punct(","):
                tables.append(self.advance())
            else:
                break
        tables.append(self.expect_punct(")", opened=open_paren))
        return Node("Tables", tables)

    def op_sample(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_expression()]
        if head.text == "sample-distinct":
            children.extend([self.expect_word("of", "in 'sample-distinct'"), self.parse_expression()])
        return Node("Sample", children)

    def op_range(self) -> Node:
        head = self.advance()
        children: list = [head, self.parse_name()]
        for word in ("from", "to", "step"):
            children.append(self.expect_word(word, "in 'range'"))
            children.append(self.parse_expression())
        return Node("Range", children)

    def op_top_nested(self) -> Node:
        head = self.advance()
        children: list = [head]
        while True:
            if not self.at_word("of"):
                children.append(self.parse_expression())
            children.append(self.expect_word("of", "in 'top-nested'"))
            children.append(self.parse_assignment())
            if self.at_word("with"):
                children.extend([self.advance(), self.advance(), self.expect_punct("="), self.parse_expression()])
            children.append(self.expect_word("by", "in 'top-nested'"))
            children.append(self.parse_sort_expression())
            if self.at_punct(",") and self.peek().is_word("top-nested"):
                children.extend([self.advance(), self.advance()])
                continue
            break
        return Node("TopNested", children)

    def op_loose(self) -> Node:
        head = self.advance()
        rest = self.skip_until(lambda: self.at_punct("|", ";"), "Body")
        return Node("LooseOperator", [head, *([rest] if rest else [])], operator=head.text)


OPERATORS: dict[str, Callable[[OperatorParser], Node]] = {
    "where": OperatorParser.op_where,
    "filter": OperatorParser.op_where,
    "extend": OperatorParser.op_extend,
    "project": OperatorParser.op_extend,
    "project-away": OperatorParser.op_name_patterns,
    "project-keep": OperatorParser.op_name_patterns,
    "project-reorder": OperatorParser.op_name_patterns,
    "project-rename": OperatorParser.op_project_rename,
    "project-by-names": OperatorParser.op_project_by_names,
    "summarize": OperatorParser.op_summarize,
    "sort": OperatorParser.op_sort,
    "order": OperatorParser.op_sort,
    "top": OperatorParser.op_top,
    "take": OperatorParser.op_take,
    "limit": OperatorParser.op_take,
    "count": OperatorParser.op_count,
    "distinct": OperatorParser.op_distinct,
    "join": OperatorParser.op_join,
    "lookup": OperatorParser.op_join,
    "union": OperatorParser.op_union,
    "mv-expand": OperatorParser.op_mv_expand,
    "mvexpand": OperatorParser.op_mv_expand,
    "mv-apply": OperatorParser.op_mv_apply,
    "parse": OperatorParser.op_parse,
    "parse-where": OperatorParser.op_parse,
    "parse-kv": OperatorParser.op_parse_kv,
    "make-series": OperatorParser.op_make_series,
    "render": OperatorParser.op_render,
    "evaluate": OperatorParser.op_evaluate,
    "invoke": OperatorParser.op_invoke,
    "as": OperatorParser.op_as,
    "serialize": OperatorParser.op_serialize,
    "search": OperatorParser.op_search,
    "find": OperatorParser.op_find,
    "top-nested": OperatorParser.op_top_nested,
    "print": OperatorParser.op_print,
    "sample": OperatorParser.op_sample,
    "sample-distinct": OperatorParser.op_sample,
}
