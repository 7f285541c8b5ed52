"""`dac report pr`: the markdown a reviewer reads in the job summary and the pull-request comment.

One summary table of added, changed and removed detections; then each of them with its findings,
test results, query diff against the base and rendered queries (collapsed); then the ATT&CK
coverage before and after. The first line is a marker the workflow uses to find and update its
one comment. GitHub refuses comments over 65,536 characters, so a report that would be longer
drops detail in steps (rendered queries, then diffs, then per-detection sections) and says so.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..coverage import technique_coverage
from ..diagnostics import Severity
from ..model.attack import AttackCatalog, load_catalog
from ..model.detection import Detection
from ..review import ADDED, CHANGED, REMOVED, DetectionChange, Review
from ..testing import PASSED

MARKER = "<!-- dac:pr-report -->"
COMMENT_LIMIT = 65_000  # GitHub's limit is 65,536 characters; leave room for the truncation note

_STATUS_LABEL = {ADDED: "🆕 added", CHANGED: "✏️ changed", REMOVED: "🗑️ removed"}
_SECTION_TITLE = {ADDED: "Added", CHANGED: "Changed", REMOVED: "Removed"}


@dataclass(frozen=True)
class Detail:
    """How much of each detection the report shows; lowered step by step to fit the limit."""

    sections: bool = True
    diffs: bool = True
    queries: bool = True


_DETAIL_STEPS = (
    Detail(),
    Detail(queries=False),
    Detail(diffs=False, queries=False),
    Detail(sections=False, diffs=False, queries=False),
)


def render(review: Review, max_chars: int = COMMENT_LIMIT) -> str:
    """The report, as detailed as fits in `max_chars`."""
    text = ""
    for step, detail in enumerate(_DETAIL_STEPS):
        text = _render(review, detail, shortened=step > 0)
        if len(text) <= max_chars:
            return text
    note = "\n\n*… cut at the length limit of a pull-request comment.*\n"
    return text[: max(0, max_chars - len(note))] + note


def _render(review: Review, detail: Detail, shortened: bool) -> str:
    lines = [MARKER, "## dac: detection review", ""]
    lines += _headline(review)
    if shortened:
        lines += ["", _shortened_note(detail)]
    if review.changes:
        lines += ["", *_summary_table(review.changes)]
    if detail.sections:
        for status in (ADDED, CHANGED, REMOVED):
            changes = review.of_status(status)
            if changes:
                lines += ["", f"### {_SECTION_TITLE[status]} ({len(changes)})"]
                for change in changes:
                    lines += ["", *_change_section(change, detail)]
    lines += ["", *_coverage_section(review.base_detections, review.head_detections)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _headline(review: Review) -> list[str]:
    counts = ", ".join(f"{len(review.of_status(s))} {s}" for s in (ADDED, CHANGED, REMOVED))
    errors = sum(c.errors for c in review.changes)
    warnings = sum(c.warnings for c in review.changes)
    tests = [t for c in review.changes for t in c.tests]
    passed = sum(t.status == PASSED for t in tests)
    verdict = "✅" if errors == 0 and passed == len(tests) else "❌"
    return [
        f"{verdict} **{counts}** · {review.unchanged} unchanged · "
        f"findings in changed files: {_count(errors, 'error')}, {_count(warnings, 'warning')} · "
        f"tests of changed detections: {passed}/{len(tests)} passed",
        "",
        f"Compared with `{review.base_ref}` ({review.base_commit[:12]}).",
    ]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _shortened_note(detail: Detail) -> str:
    left_out = [
        what
        for what, shown in (
            ("rendered queries", detail.queries),
            ("query diffs", detail.diffs),
            ("per-detection sections", detail.sections),
        )
        if not shown
    ]
    return (
        f"> This report leaves out {', '.join(left_out)} to fit in a pull-request comment; "
        "run `dac report pr` locally for all of it."
    )


def _summary_table(changes: Sequence[DetectionChange]) -> list[str]:
    lines = [
        "| | detection | kind | severity | ATT&CK techniques | findings | tests |",
        "|---|---|---|---|---|---|---|",
    ]
    for change in changes:
        data = (change.head or change.base).data or {}  # type: ignore[union-attr]
        techniques = ", ".join((data.get("mitre") or {}).get("techniques") or []) or "-"
        name = f"{_cell(change.name)}<br>`{_cell(change.path)}`"
        findings = "-" if change.status == REMOVED else _findings_cell(change)
        lines.append(
            f"| {_STATUS_LABEL[change.status]} | {name} | {_cell(data.get('kind', '-'))} | "
            f"{_cell(data.get('severity', '-'))} | {_cell(techniques)} | {findings} | {_tests_cell(change)} |"
        )
    return lines


def _findings_cell(change: DetectionChange) -> str:
    if change.errors:
        return f"❌ {_count(change.errors, 'error')}"
    if change.warnings:
        return f"⚠️ {_count(change.warnings, 'warning')}"
    return "✅ none"


def _tests_cell(change: DetectionChange) -> str:
    if change.status == REMOVED:
        return "-"
    if not change.tests:
        return "not run" if change.errors else "none"
    passed = sum(t.status == PASSED for t in change.tests)
    mark = "✅" if passed == len(change.tests) else "❌"
    return f"{mark} {passed}/{len(change.tests)}"


def _change_section(change: DetectionChange, detail: Detail) -> list[str]:
    lines = [f"#### {_STATUS_LABEL[change.status]}: {_inline(change.name)}", ""]
    facts = [f"`{change.path}`"]
    if change.id:
        facts.append(f"id `{change.id}`")
    if change.status == CHANGED and change.base is not None and change.base.path != change.path:
        facts.append(f"moved from `{change.base.path}`")
    lines.append(" · ".join(facts))
    if change.status == REMOVED:
        lines += ["", "Removed from the repository; `dac deploy --prune` deletes its deployed rules."]
        return lines
    if change.changed_fields:
        lines += ["", "Changed: " + ", ".join(f"`{f}`" for f in change.changed_fields)]
    lines += ["", *_findings_block(change), "", *_tests_block(change)]
    if detail.diffs and change.status == CHANGED:
        lines += _diff_blocks(change)
    if detail.queries:
        for variant in change.variants:
            if variant.text:
                lines += ["", *_details(f"{variant.dialect.capitalize()} query", "kql", variant.text)]
    return lines


def _findings_block(change: DetectionChange) -> list[str]:
    if not change.diagnostics:
        return ["**Findings:** none"]
    lines = ["**Findings:**", ""]
    for diagnostic in change.diagnostics:
        icon = "❌" if diagnostic.severity is Severity.ERROR else "⚠️"
        lines.append(
            f"- {icon} line {diagnostic.line}, column {diagnostic.column}: {diagnostic.severity} "
            f"`{diagnostic.code}`: {_inline(diagnostic.message)}"
        )
        lines += [f"  - {_inline(note)}" for note in diagnostic.notes]
    return lines


def _tests_block(change: DetectionChange) -> list[str]:
    if not change.tests:
        reason = "not run: the detection has errors" if change.errors else "none (add `tests:` to the detection)"
        return [f"**Tests:** {reason}"]
    passed = sum(t.status == PASSED for t in change.tests)
    lines = [f"**Tests:** {passed} of {len(change.tests)} passed", ""]
    for test in change.tests:
        icon = "✅" if test.status == PASSED else "❌"
        line = f"- {icon} {_inline(test.test)} ({test.dialect}): {test.status}"
        if test.message:
            line += f": {_inline(test.message)}"
        lines.append(line)
        if test.details:
            lines += ["", *_indented(_fenced("text", test.details), "  ")]
    return lines


def _diff_blocks(change: DetectionChange) -> list[str]:
    """The rendered query per dialect against the base's; the source text when one side did not render."""
    base_variants = {v.dialect: v for v in change.base.variants} if change.base else {}
    lines: list[str] = []
    for variant in change.variants:
        before = base_variants.get(variant.dialect)
        before_text = (before.text or before.source_text) if before else _base_query_text(change)
        after_text = variant.text or variant.source_text
        diff = _unified(before_text, after_text, change.base.path if change.base else change.path, change.path)
        if diff:
            title = f"{variant.dialect.capitalize()} query diff ({_diff_stat(diff)})"
            lines += ["", *_details(title, "diff", diff)]
    if not lines and "query" not in change.changed_fields and "variants" not in change.changed_fields:
        return []
    return lines or ["", "The rendered queries are unchanged."]


def _base_query_text(change: DetectionChange) -> str:
    data = (change.base.data if change.base else None) or {}
    query = data.get("query") if isinstance(data.get("query"), dict) else {}
    text = query.get("text")
    return text if isinstance(text, str) else ""


def _unified(before: str, after: str, before_name: str, after_name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), f"a/{before_name}", f"b/{after_name}", lineterm="", n=3
    )
    return "\n".join(lines)


def _diff_stat(diff: str) -> str:
    body = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    added = sum(line.startswith("+") for line in body)
    removed = sum(line.startswith("-") for line in body)
    return f"+{added} −{removed}"


def _coverage_section(before: Iterable[Detection], after: Iterable[Detection]) -> list[str]:
    catalog = load_catalog()
    old = {technique: len(found) for technique, found in technique_coverage(list(before)).items()}
    new = {technique: len(found) for technique, found in technique_coverage(list(after)).items()}
    gained = sorted(set(new) - set(old))
    lost = sorted(set(old) - set(new))
    lines = [
        "### ATT&CK coverage",
        "",
        f"Techniques with at least one detection: {len(old)} → {len(new)} "
        f"({len(gained)} newly covered, {len(lost)} no longer covered).",
    ]
    moved = [t for t in sorted(set(old) | set(new)) if old.get(t, 0) != new.get(t, 0)]
    if moved:
        lines += ["", "| technique | name | tactics | detections before | after |", "|---|---|---|---|---|"]
        for technique_id in moved:
            technique = catalog.techniques.get(technique_id)
            name = technique.name if technique else "(not in the ATT&CK catalog)"
            link = f"[{technique_id}]({technique.url})" if technique else technique_id
            tactics = ", ".join(technique.tactics) if technique else "-"
            before_count, after_count = old.get(technique_id, 0), new.get(technique_id, 0)
            trend = "🟢" if after_count > before_count else "🔴"
            lines.append(f"| {link} | {_cell(name)} | {_cell(tactics)} | {before_count} | {trend} {after_count} |")
    lines += ["", *_tactic_table(catalog, old, new)]
    return lines


def _tactic_table(catalog: AttackCatalog, old: dict[str, int], new: dict[str, int]) -> list[str]:
    lines = ["<details><summary>Techniques covered per tactic</summary>", "",
             "| tactic | before | after |", "|---|---|---|"]  # fmt: skip
    for tactic in catalog.tactics.values():

        def covered(counts: dict[str, int], shortname: str = tactic.shortname) -> int:
            return sum(1 for t in counts if t in catalog.techniques and shortname in catalog.techniques[t].tactics)

        before_count, after_count = covered(old), covered(new)
        change = "" if before_count == after_count else (" 🟢" if after_count > before_count else " 🔴")
        lines.append(f"| {tactic.name} | {before_count} | {after_count}{change} |")
    return [*lines, "", "</details>"]


def _details(summary: str, language: str, body: str) -> list[str]:
    return [f"<details><summary>{summary}</summary>", "", *_fenced(language, body), "", "</details>"]


def _fenced(language: str, body: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *body.rstrip("\n").splitlines(), fence]


def _indented(lines: list[str], prefix: str) -> list[str]:
    return [prefix + line if line else line for line in lines]


def _inline(text: str) -> str:
    """One line of prose: no line breaks, no stray HTML."""
    return " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: object) -> str:
    return _inline(str(text)).replace("|", "\\|")
