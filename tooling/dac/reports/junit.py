"""JUnit XML of test results (`dac test --junit`), for CI systems that show test reports."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from ..diagnostics import Diagnostic
from ..testing import ERROR, FAILED_STATUS, PASSED, TestResult

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("?", text)


def junit_xml(
    results: Sequence[TestResult], invalid: Mapping[str, tuple[str, Sequence[Diagnostic]]] | None = None
) -> str:
    """JUnit XML: a testsuite per detection, a testcase per test and dialect ("<test> [<dialect>]").

    `invalid`: detection files that were not run, file -> (name, error diagnostics); each becomes a
    testsuite with one erroring testcase "validation". Times are seconds rounded to milliseconds.
    """
    root = ET.Element("testsuites", name="dac test")
    suites: dict[str, list[TestResult]] = {}
    names: dict[str, str] = {}
    for r in results:
        suites.setdefault(r.file, []).append(r)
        names[r.file] = r.detection
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for file, members in suites.items():
        suite = ET.SubElement(root, "testsuite", name=_xml_text(names[file]), file=file)
        counts = {
            "tests": len(members),
            "failures": sum(r.status == FAILED_STATUS for r in members),
            "errors": sum(r.status == ERROR for r in members),
            "skipped": 0,
            "time": round(sum(r.duration for r in members), 3),
        }
        for r in members:
            case = ET.SubElement(
                suite, "testcase", name=_xml_text(r.label), classname=_xml_text(r.detection), file=file,
                time=f"{r.duration:.3f}",
            )  # fmt: skip
            if r.status == PASSED:
                continue
            tag = "failure" if r.status == FAILED_STATUS else "error"
            first = r.diagnostics[0] if r.diagnostics else None
            element = ET.SubElement(case, tag, message=_xml_text(r.message), type=first.code if first else tag)
            element.text = _xml_text(
                "\n".join([*(d.format() for d in r.diagnostics), *([r.details] if r.details else [])])
            )
        _set_counts(suite, counts)
        for key in ("tests", "failures", "errors"):
            totals[key] += counts[key]
        totals["time"] += counts["time"]
    for file, (name, diagnostics) in (invalid or {}).items():
        suite = ET.SubElement(root, "testsuite", name=_xml_text(name), file=file)
        _set_counts(suite, {"tests": 1, "failures": 0, "errors": 1, "skipped": 0, "time": 0.0})
        case = ET.SubElement(suite, "testcase", name="validation", classname=_xml_text(name), file=file, time="0.000")
        plural = "s" if len(diagnostics) != 1 else ""
        message = f"the detection is invalid ({len(diagnostics)} error{plural}); its tests did not run"
        element = ET.SubElement(case, "error", message=message, type="invalid")
        element.text = _xml_text("\n".join(d.format() for d in diagnostics))
        totals["tests"] += 1
        totals["errors"] += 1
    _set_counts(root, {**totals, "time": round(totals["time"], 3)})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _set_counts(element: ET.Element, counts: Mapping[str, Any]) -> None:
    for key, value in counts.items():
        element.set(key, f"{value:.3f}" if key == "time" else str(value))
