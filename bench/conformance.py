#!/usr/bin/env python3
"""Run the KQL reference's documented examples through the emulator and compare results.

Usage: python bench/conformance.py [CASES.jsonl] [--show N] [--failures-only] [--jsonl OUT]

CASES defaults to ../shared/conformance/dev.jsonl (fields: id, query, columns, rows as strings,
ordered, flags). Cases flagged nondeterministic, approximate or arbitrary_rows are not scored.
Both sides are normalised the way the documentation prints values: datetimes as
`2018-07-01 00:00:00.0000000`, booleans `true`/`false`, timespans `1.02:03:04`, dynamic as
compact JSON, null as empty. Each case is `pass`, `fail` (a wrong answer) or `unsupported: X`
(the emulator refused, naming what). Known documentation errors are listed in
bench/conformance_known_doc_errors.json with their reason and count as neither. Why each refused
case stays refused is in bench/conformance_refusal_reasons.json (printed with the case; it does not
change the score).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooling"))

from dac.emulator import Emulator, EmulatorError
from dac.model.tables import environment

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ROOT.parent / "shared" / "conformance" / "dev.jsonl"
KNOWN_DOC_ERRORS = ROOT / "bench" / "conformance_known_doc_errors.json"
REFUSAL_REASONS = ROOT / "bench" / "conformance_refusal_reasons.json"
UNSCORED = {"nondeterministic", "approximate", "arbitrary_rows"}


def timespan_text(value: dt.timedelta) -> str:
    total = round(value / dt.timedelta(microseconds=1)) * 10  # ticks
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 864_000_000_000)
    hours, rest = divmod(rest, 36_000_000_000)
    minutes, rest = divmod(rest, 600_000_000)
    seconds, ticks = divmod(rest, 10_000_000)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if ticks:
        text += f".{ticks:07d}"
    return f"{sign}{days}.{text}" if days else f"{sign}{text}"


def normalise_actual(value: Any, kind: str) -> str:
    if value is None or value == "":  # the reference pages print null (and the empty string) as "null"
        return "null"
    if kind == "string" and isinstance(value, str) and value.startswith(("[", "{")):
        return normalise_expected(value)  # JSON text in a string: compared the way the page's text is
    if kind == "datetime" and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond:06d}{getattr(value, 'extra_ticks', 0)}"
    if kind == "timespan" and isinstance(value, dt.timedelta):
        return timespan_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "dynamic":  # the documentation prints a dynamic string without quotes
        return value if isinstance(value, str) else _canonical_json(value)
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    """A real at 14 significant digits: the reference pages print 15, and the 15th can differ between
    floating-point libraries (libm, H3's C code) for the same formula, so it is not compared."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.14g}"
    return text if "e" in text or "." in text or abs(value) >= 1e15 else str(int(float(text)))


def normalise_expected(text: str, br_in_cells: bool = False) -> str:
    if br_in_cells:  # the page wrote line breaks inside a table cell as <br />
        text = re.sub(r"<br\s*/?>", "\n", text)
    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] == "`":  # markdown code spans around a value
        text = text[1:-1]
    if re.fullmatch(r"<https?://[^>]+>", text):  # markdown autolinks
        text = text[1:-1]
    if text == "":
        return "null"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?", text):
        date, _, time_part = text.replace("T", " ").rstrip("Z").partition(" ")
        whole, _, fraction = time_part.partition(".")
        return f"{date} {whole}.{(fraction + '0000000')[:7]}"
    if text in ("True", "False", "TRUE", "FALSE"):
        return text.lower()
    if text.startswith(("[", "{")):
        bare_words = re.sub(r"(?<=[\[,])\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?=[,\]])", r'"\1"', text)
        for candidate in (text, text.replace("'", '"'), bare_words):
            try:  # the pages also print pseudo-JSON: single quotes, bare words in arrays
                return _canonical_json(json.loads(candidate))
            except ValueError:
                continue
        return text
    if re.fullmatch(r"-?\d+\.\d+([eE][-+]?\d+)?", text):
        return _number(float(text))
    return text


def _canonical_json(value: Any) -> str:
    """JSON with reals at the digits `_number` compares."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return "[" + ",".join(_canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (json.dumps(k, ensure_ascii=False) + ":" + _canonical_json(v) for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    return json.dumps(value, ensure_ascii=False)


def run_case(case: dict) -> tuple[str, str]:
    engine = Emulator(environment("defender"), now=dt.datetime(2024, 1, 1))
    try:
        result = engine.run(case["query"])
    except EmulatorError as exc:
        # The emulator refused with a message: not a wrong answer, but something it cannot run.
        detail = exc.message.removeprefix("the emulator does not support ")
        return "unsupported", detail if exc.code == "EMU001" else f"{exc.code}: {exc.message}"
    except Exception as exc:  # a crash is a failure of ours, reported as such
        return "fail", f"crash {type(exc).__name__}: {exc}"
    finally:
        engine.close()
    names = [name for name, _ in result.columns]
    expected_columns = case.get("columns") or []
    if expected_columns and names != expected_columns:
        return "fail", f"columns {names} != {expected_columns}"
    actual = [[normalise_actual(v, t) for v, (_, t) in zip(row, result.columns, strict=True)] for row in result.rows]
    br = "br_in_cells" in (case.get("flags") or [])
    expected = [[normalise_expected(str(v), br) for v in row] for row in case["rows"]]
    kinds = [kind for _, kind in result.columns]
    expected = [  # a string cell the page wrapped in double quotes
        [cell[1:-1] if len(cell) > 1 and cell[0] == cell[-1] == '"' and index < len(kinds) and kinds[index] == "string"
         else cell for index, cell in enumerate(row)]
        for row in expected
    ]  # fmt: skip
    actual = [[cell.strip() if br else cell for cell in row] for row in actual]
    if case.get("ordered"):
        same = actual == expected
    else:
        same = collections.Counter(map(tuple, actual)) == collections.Counter(map(tuple, expected))
    return ("pass", "") if same else ("fail", f"rows {actual[:3]} != {expected[:3]}")


def load_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(cases: list[dict]) -> tuple[collections.Counter[str], list[dict[str, str]]]:
    """Run every scored case: counts per status (pass, fail, unsupported, doc-error, unscored) and
    one {id, status, detail} per scored case. A failing case listed as a documentation error counts
    as doc-error."""
    known = json.loads(KNOWN_DOC_ERRORS.read_text(encoding="utf-8")) if KNOWN_DOC_ERRORS.is_file() else {}
    counts: collections.Counter[str] = collections.Counter()
    lines = []
    for case in cases:
        if UNSCORED & set(case.get("flags") or []):
            counts["unscored"] += 1
            continue
        status, detail = run_case(case)
        if status == "fail" and case["id"] in known:
            status, detail = "doc-error", known[case["id"]]
        counts[status] += 1
        lines.append({"id": case["id"], "status": status, "detail": detail})
    return counts, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--show", type=int, default=0, help="print this many non-passing cases")
    parser.add_argument("--jsonl", type=Path, help="write one {id, status, detail} line per case")
    args = parser.parse_args()
    cases = load_cases(args.cases)
    counts, lines = score(cases)
    unsupported = collections.Counter(line["detail"] for line in lines if line["status"] == "unsupported")
    reasons = json.loads(REFUSAL_REASONS.read_text(encoding="utf-8")) if REFUSAL_REASONS.is_file() else {}
    for line in [line for line in lines if line["status"] != "pass"][: args.show]:
        print(f"{line['status']:11} {line['id']}: {line['detail'][:160]}")
        if line["status"] == "unsupported" and line["id"] in reasons:
            print(f"{'':11} why: {reasons[line['id']]}")
    scored = counts["pass"] + counts["fail"] + counts["unsupported"]
    print(f"cases: {len(cases)}, scored: {scored}, unscored (flags): {counts['unscored']}, "
          f"doc errors: {counts['doc-error']}")  # fmt: skip
    print(f"pass {counts['pass']} ({100 * counts['pass'] / max(scored, 1):.1f}%), fail {counts['fail']}, "
          f"unsupported {counts['unsupported']}")  # fmt: skip
    for detail, number in unsupported.most_common(15):
        print(f"  unsupported {number:3}: {detail}")
    unexplained = [line["id"] for line in lines if line["status"] == "unsupported" and line["id"] not in reasons]
    if unexplained:
        print(f"refused without a reason in {REFUSAL_REASONS.name}: {', '.join(unexplained)}")
    if args.jsonl:
        args.jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
