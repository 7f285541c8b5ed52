"""Let statements inside let functions: values built on values, each read several times.

The expected values follow the KQL reference's words for indexof() (-1 when not found), substring()
(start from 0, length to the end when left out), strlen(), iif() and strcat(). A let value that the
rest of the body reads more than once is evaluated once (a DuckDB lambda parameter), so that lets
built on lets do not grow the SQL exponentially: the chained case below would otherwise compile to
some 2^14 copies of its first value.
"""

from __future__ import annotations

import datetime as dt

from conftest import emulate
from dac.emulator import Emulator
from dac.emulator.compiler import compile_query
from dac.model.tables import environment

MASKING = """
let maskUpn = (upn: string) {
    let atPos = indexof(upn, "@");
    let localPart = iif(atPos > 0, substring(upn, 0, atPos), upn);
    let domain = iif(atPos > 0, substring(upn, atPos), "");
    let visible = iif(strlen(localPart) >= 3, substring(localPart, 0, 2), localPart);
    strcat(visible, "***", domain)
};
let maskName = (name: string) {
    let spacePos = indexof(name, " ");
    let firstName = iif(spacePos > 0, substring(name, 0, spacePos), name);
    let lastName = iif(spacePos > 0, substring(name, spacePos + 1), "");
    let visibleFirst = iif(strlen(firstName) >= 2, substring(firstName, 0, 1), firstName);
    let visibleLast = iif(strlen(lastName) >= 2, substring(lastName, 0, 1), lastName);
    iif(spacePos > 0, strcat(visibleFirst, "***", " ", visibleLast, "***"), strcat(visibleFirst, "***"))
};
"""


def test_masking_functions_built_from_lets_give_the_documented_values():
    query = MASKING + (
        "datatable(Upn: string, Name: string) ["
        "'john.doe@contoso.com', 'John Doe', 'a', 'X', 'ab@x.io', 'Alice']"
        "| project U = maskUpn(Upn), N = maskName(Name)"
    )
    assert emulate(query) == [
        ["jo***@contoso.com", "J*** D***"],  # atPos 8, local part "john.doe"; space at 4
        ["a***", "X***"],  # no "@": indexof is -1, the whole text is the local part
        ["ab***@x.io", "A***"],  # a two-letter local part is kept whole
    ]


def test_lets_built_on_lets_compile_to_sql_of_linear_size():
    lets = "".join(f"let a{n} = a{n - 1} + a{n - 1} * 1;" for n in range(2, 16))
    query = f"let f = (x: long) {{ let a1 = x + 1; {lets} a15 }}; print r = f(1)"
    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    try:
        sql, _ = compile_query(engine, query)
        assert len(sql) < 20_000
        # a_k = 2 * a_(k-1) and a1 = 2: a15 = 2^15
        assert [list(row) for row in engine.run(query).rows] == [[2**15]]
    finally:
        engine.close()


def test_a_function_with_bound_lets_works_in_a_filter_and_inside_an_aggregate():
    body = "let y = x * 2 + x * 3 + x * 4 + x * 5 + x * 6 + x * 7 + x * 8; y + y"  # long enough to be bound
    query = (
        f"let f = (x: long) {{ {body} }};"
        "datatable(k: string, v: long) ['a', 1, 'a', 2, 'b', 5, 'b', 1]"
        "| where f(v) > 70"  # f(v) = 2 * 35 * v: v > 1
        "| summarize r = sum(f(v)) by k | order by k asc"
    )
    assert emulate(query) == [["a", 140], ["b", 350]]


def test_a_constant_let_read_twice_stays_a_constant_for_functions_that_need_one():
    # format_datetime takes a constant format; here the format is a let built from constants, read twice
    parts = ", ".join(['"yyyy-MM-dd"', '" "', '"HH:mm:ss"'] + ['""'] * 16)  # long enough to be bound if not constant
    query = (
        f"let f = (t: datetime) {{ let fmt = strcat({parts});"
        'strcat(format_datetime(t, fmt), " | ", format_datetime(t + 1h, fmt)) };'
        "print r = f(datetime(2024-01-02 03:04:05))"
    )
    assert emulate(query) == [["2024-01-02 03:04:05 | 2024-01-02 04:04:05"]]
