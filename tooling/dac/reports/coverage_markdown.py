"""ATT&CK coverage as markdown, for a pull request, a job summary or the docs site.

A summary table with one row per tactic (techniques covered of the tactic's techniques, and the
detections), then per covered tactic its named techniques and sub-techniques with the detections
that name them, then the technique ids that are not in the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from ..coverage import Coverage, TacticCoverage, parent_id
from ..model.detection import Detection

Link = Callable[[Detection], str]

_MARKDOWN_PUNCTUATION = "\\`*_[]<>|"


def escape_inline(text: str) -> str:
    """Text that markdown shows as written: no emphasis, links, code or HTML."""
    return "".join("\\" + ch if ch in _MARKDOWN_PUNCTUATION else ch for ch in str(text))


def escape_cell(text: str) -> str:
    """Text for a table cell: escaped, on one line."""
    return " ".join(escape_inline(text).split())


def link_target(path: str) -> str:
    """A relative path as a link destination (spaces and other specials percent-encoded)."""
    return quote(path, safe="/#.-_~")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _detection_links(detections: list[Detection], link: Link | None) -> str:
    if link is None:
        return ", ".join(escape_cell(d.name) for d in detections)
    return ", ".join(f"[{escape_cell(d.name)}]({link_target(link(d))})" for d in detections)


def _summary_table(tactics: list[TacticCoverage]) -> list[str]:
    lines = ["| Tactic | Techniques covered | Detections |", "|---|---:|---:|"]
    for entry in tactics:
        name = f"[{escape_cell(entry.tactic.name)}]({entry.url})"
        lines.append(f"| {name} | {len(entry.covered)} / {entry.total} | {len(entry.detections)} |")
    return lines


def _technique_row(coverage: Coverage, technique_id: str, link: Link | None) -> str:
    technique = coverage.catalog.techniques[technique_id]
    label = f"[{technique_id}]({technique.url}) {escape_cell(technique.name)}"
    if "." in technique_id:
        label += f" (sub-technique of {parent_id(technique_id)})"
    if technique.status != "active":
        label += f" ({technique.status})"
    return f"| {label} | {_detection_links(coverage.by_technique[technique_id], link)} |"


def _tactic_section(coverage: Coverage, entry: TacticCoverage, link: Link | None, level: int) -> list[str]:
    heading = "#" * (level + 1)
    lines = ["", f"{heading} {escape_inline(entry.tactic.name)}", "", "| Technique | Detections |", "|---|---|"]
    lines += [_technique_row(coverage, t, link) for t in entry.named]
    return lines


def _overview(coverage: Coverage) -> str:
    known = coverage.known
    subtechniques = sum(1 for t in known if "." in t)
    mapped = sum(1 for d in coverage.detections if d.mitre.get("techniques"))
    return (
        f"{_plural(len(coverage.detections), 'detection')} count (deprecated ones do not); {mapped} of them "
        f"name {_plural(len(known) - subtechniques, 'technique')} and {_plural(subtechniques, 'sub-technique')} "
        f"of ATT&CK Enterprise v{coverage.catalog.version}. A technique is covered when a detection names it "
        "or one of its sub-techniques; it counts under each of its tactics."
    )


def render(coverage: Coverage, link: Link | None = None, title: str = "ATT&CK coverage", level: int = 2) -> str:
    """The matrix as markdown; `link` gives a detection's relative link (no links without it)."""
    tactics = coverage.tactics()
    lines = [f"{'#' * level} {escape_inline(title)}", "", _overview(coverage), "", *_summary_table(tactics)]
    for entry in tactics:
        if entry.named:
            lines += _tactic_section(coverage, entry, link, level)
    if coverage.unknown:
        named = [f"`{t}` ({_detection_links(coverage.by_technique[t], link)})" for t in coverage.unknown]
        lines += ["", "Not in the ATT&CK catalog: " + "; ".join(named) + "."]
    return "\n".join(lines) + "\n"
