"""Read a "markdown hunting query" document into its parts.

Many public KQL repositories publish one hunting query per markdown file: a title, a description, the
author, MITRE ATT&CK techniques, references and the query itself, often once for Microsoft Defender XDR
and once for Microsoft Sentinel. The same documents also circulate in three other shapes, all accepted:

* text copied from the rendered GitHub page: no markup, headings are plain lines, queries are unfenced;
* a query gallery page ("Query Details", page title, "Query", ..., "Explanation", "Details", author,
  "Released: <date>") wrapping the markdown document;
* the same gallery page wrapping a bare query whose leading `//` lines are its title and description.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Line = tuple[int, str]  # (1-based line number, text)


@dataclass
class ImportedQuery:
    source: str
    title: str
    description: str
    authors: list[str]
    references: list[str]
    techniques: list[str]
    created: str | None
    defender_query: str | None
    sentinel_query: str | None


class MarkdownImportError(Exception):
    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


PLATFORMS = ("defender", "sentinel")
TEXT_KINDS = ("description", "risk", "author", "references", "mitre")
# Heading words per section kind; markdown headings only need to start with them, plain lines must match.
SECTION_PATTERNS = {
    "description": r"description|summary",
    "risk": r"risks?",
    "author": r"authors?",
    "references": r"references?|sources?",
    "mitre": r"mitre(?: att&ck)?(?: techniques?(?:\(s\))?)?|(?:mitre )?att&ck(?: techniques?(?:\(s\))?)?"
    r"|techniques?(?:\(s\))?",
}
PLATFORM_WORDS = {"microsoft", "azure", "365", "m365", "m365d", "defender", "for", "endpoint", "xdr", "mde"}
PLATFORM_WORDS |= {"sentinel", "advanced", "hunting", "query", "queries", "kql"}
OTHER_HEADING = re.compile(r"query information|queries overview|query|queries")
# Lines of a GitHub page around the file content, skipped when looking for the title of a plain document.
PAGE_NOISE = re.compile(
    r"skip to content|latest commit|history|file metadata and controls|preview|code|blame|raw|top"
    r"|copy path|more file actions|\d+ lines? \(\d+ loc\).*|[\w .-]+\.(?:md|kql|txt)",
    re.IGNORECASE,
)
QUERY_LANGUAGES = ("", "kql", "kusto", "csl", "sql")

HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
FENCE_OPEN = re.compile(r"([ \t]*)(`{3,}|~{3,})[ \t]*([^`]*)")
FENCE_CLOSE = re.compile(r"[ \t]*(`{3,}|~{3,})[ \t]*")
URL = re.compile(r"https?://[^\s<>()\[\]{}\"'`]+")
TECHNIQUE = re.compile(r"\bT\d{4}(?:\.\d{3})?\b", re.IGNORECASE)
MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
COMMENT_AUTHOR = re.compile(r"\s*authors?\s*:\s*(.+)", re.IGNORECASE)
# `// Twitter: https://...` and the like point at the author, not at material about the query.
PROFILE_COMMENT = re.compile(
    r"\s*(?:authors?|name|github|twitter|x|linkedin|bluesky|mastodon|website|blog|e-?mail|contact)\s*:",
    re.IGNORECASE,
)
DATE_LINE = re.compile(
    r"[\s#>/-]*(?:released|created|date created|creation date|date|published)\s*:\s*(.+)", re.IGNORECASE
)
DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d", "%Y/%m/%d")


@dataclass
class _Parts:
    """What a layout parser found; extraction of authors, references etc. is shared."""

    title: str | None = None
    heading_title: str | None = None  # first heading that is not a known section, if there is no H1
    sections: dict[str, list[Line]] = field(default_factory=dict)
    queries: dict[str, list[Line]] = field(default_factory=dict)


def parse_markdown_hunting(text: str, source: str = "<input>") -> ImportedQuery:
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    wrapper = _find_wrapper(lines)
    page_title, start, end = wrapper or (None, 0, len(lines))
    if any(HEADING.fullmatch(t) or FENCE_OPEN.fullmatch(t) for t in lines[start:end]):
        parts = _parse_markdown(lines, start, end)
    elif wrapper:
        parts = _parse_bare_query(lines, start, end)
    else:
        parts = _parse_plain(lines)

    queries = {p: q for p in PLATFORMS if (q := _query_text(parts.queries.get(p, [])))}
    if not queries:
        raise MarkdownImportError("no KQL query found", start if wrapper else 1)
    comments = [(n, c) for p in queries for n, t in parts.queries[p] if (c := _comment(t)) is not None]

    authors = [(n, a) for n, t in parts.sections.get("author", []) for a in _names(_author_field(t))]
    authors += [(n, a) for n, c in comments if (m := COMMENT_AUTHOR.match(c)) for a in _names(m.group(1))]
    if wrapper:
        authors += _page_authors(lines, end)

    prose = [line for kind in ("references", "description", "risk") for line in parts.sections.get(kind, [])]
    prose += [(n, c) for n, c in comments if not PROFILE_COMMENT.match(c)]
    references = [(n, u.rstrip(".,;:!?*")) for n, t in prose for u in URL.findall(t)]
    # URLs are blanked first so ".../techniques/T1059/001/" does not also yield T1059.
    techniques = [
        (n, t.upper())
        for n, text in parts.sections.get("mitre", []) + comments
        for t in TECHNIQUE.findall(URL.sub(" ", text))
    ]

    description = _paragraphs(parts.sections.get("description", []))
    if risk := _paragraphs(parts.sections.get("risk", [])):
        description = f"{description}\n\nRisk: {risk}".lstrip()
    return ImportedQuery(
        source=source,
        title=parts.title or page_title or parts.heading_title or "",
        description=description,
        authors=_unique(authors, key=str.casefold),
        references=_unique(references),
        techniques=_unique(techniques),
        created=next((d for d in map(_date_of, lines) if d), None),
        defender_query=queries.get("defender"),
        sentinel_query=queries.get("sentinel"),
    )


def _find_wrapper(lines: list[str]) -> tuple[str | None, int, int] | None:
    """(page title, first body index, end index) of a gallery page wrapping the document.

    The page reads: "Query Details", page title, "Query", the body, "Explanation", "Details", author, ...
    """
    norm = [t.strip().lower() for t in lines]
    head = next((i for i, t in enumerate(norm[:10]) if t == "query details"), None)
    if head is None:
        return None
    marker = next((i for i in range(head + 1, len(norm)) if norm[i] == "query"), None)
    if marker is None:
        return None
    title = next((t.strip() for t in lines[head + 1 : marker] if t.strip()), None)
    # The last match: the page's own sections follow the body, whose text could hold the same words.
    ends = [i for i in range(marker + 1, len(norm)) if norm[i] == "explanation"]
    ends = ends or [i for i in range(marker + 1, len(norm)) if norm[i] == "details"]
    return title, marker + 1, ends[-1] if ends else len(lines)


def _page_authors(lines: list[str], end: int) -> list[Line]:
    """Author of a gallery page: '<Name> profile picture', else the line before 'Released: ...'."""
    found = [
        (n + 1, m.group(1))
        for n in range(end, len(lines))
        if (m := re.fullmatch(r"(.+?)\s+profile picture", lines[n].strip(), re.IGNORECASE))
    ]
    if not found:
        tail = range(end, len(lines))
        released = next((n for n in tail if lines[n].strip().lower().startswith("released:")), 0)
        before = [n for n in range(end, released) if lines[n].strip()]
        if before and lines[before[-1]].strip().lower() != "details":
            found = [(before[-1] + 1, lines[before[-1]].strip())]
    return found


def _parse_markdown(lines: list[str], start: int, end: int) -> _Parts:
    parts = _Parts()
    # (level, kind, names only a platform) of the headings enclosing the current line
    stack: list[tuple[int, str | None, bool]] = []
    blocks: list[tuple[int, str | None, list[Line]]] = []  # (fence line, platform, content)
    i = start
    while i < end:
        if fence := FENCE_OPEN.fullmatch(lines[i]):
            close = _closing_fence(lines, i, end, fence)
            if fence.group(3).strip().lower() in QUERY_LANGUAGES:
                # A heading that only names a platform beats one that mentions it ("## Sentinel" then
                # "### Defender for Endpoint via X" holds a Sentinel query); among those the innermost wins.
                labels = [(pure, depth, k) for depth, (_, k, pure) in enumerate(stack) if k in PLATFORMS]
                platform = max(labels)[2] if labels else None
                indent = len(fence.group(1))
                content = [(n + 1, _dedent(lines[n], indent)) for n in range(i + 1, close)]
                blocks.append((i + 1, platform, content))
            i = close + 1
            continue
        if heading := HEADING.fullmatch(lines[i]):
            level, name = len(heading.group(1)), _heading_text(heading.group(2))
            kind = None
            if level == 1 and name and parts.title is None:
                parts.title = name
            else:
                kind = _section_kind(name, strict=False)
                parts.heading_title = parts.heading_title or (name if kind is None else None)
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, kind, _only_platform(name)))
            if kind in TEXT_KINDS:  # a paragraph break between repeated sections
                parts.sections.setdefault(kind, []).append((i + 1, ""))
        elif stack and stack[-1][1] in TEXT_KINDS:
            parts.sections.setdefault(stack[-1][1], []).append((i + 1, lines[i]))
        i += 1

    blocks = [b for b in blocks if _query_text(b[2])]
    for platform in PLATFORMS:
        if found := next((content for _, p, content in blocks if p == platform), None):
            parts.queries[platform] = found
    unlabelled = [b for b in blocks if b[1] is None]
    if "defender" not in parts.queries and len(unlabelled) == 1:
        parts.queries["defender"] = unlabelled[0][2]
    elif not parts.queries and len(unlabelled) > 1:
        message = f"{len(unlabelled)} query blocks and no Defender/Sentinel heading to tell them apart"
        raise MarkdownImportError(message, unlabelled[1][0])
    return parts


def _parse_plain(lines: list[str]) -> _Parts:
    """A rendered page: headings are lines equal to a known heading, queries run to the next heading."""
    parts = _Parts()
    kind = None
    for n, text in enumerate(lines, 1):
        if heading := _section_kind(text, strict=True):
            kind = heading
            if kind in PLATFORMS:
                parts.queries.setdefault(kind, [])
        elif kind is None:
            if parts.title is None and text.strip() and not PAGE_NOISE.fullmatch(text.strip()):
                parts.title = text.strip()
        elif kind in PLATFORMS:
            parts.queries[kind].append((n, text))
        elif kind in TEXT_KINDS:
            parts.sections.setdefault(kind, []).append((n, text))
    return parts


def _parse_bare_query(lines: list[str], start: int, end: int) -> _Parts:
    """A bare query: its first `//` line is a title, the following leading `//` lines its description."""
    body = [(n + 1, lines[n]) for n in range(start, end)]
    leading: list[Line] = []
    for n, text in body:
        if text.strip() and not text.lstrip().startswith("//"):
            break
        leading.append((n, text.strip().removeprefix("//").strip()))
    first = next((k for k, (_, text) in enumerate(leading) if text), None)
    description = [] if first is None else leading[first + 1 :]
    return _Parts(sections={"description": description}, queries={"defender": body})


def _section_kind(text: str, strict: bool) -> str | None:
    """Kind of a heading: a TEXT_KINDS entry, a platform, "other" (known, nothing to read) or None."""
    name = " ".join(text.replace("*", "").lower().split()).rstrip(":")
    for kind, pattern in SECTION_PATTERNS.items():
        if re.fullmatch(pattern, name) if strict else re.match(rf"(?:{pattern})(?!\w)", name):
            return kind
    # A plain line is a platform heading only when it names nothing else and has no code-like characters.
    if not strict or (_only_platform(name) and re.fullmatch(r"[\w &()-]+", name)):
        defender = re.search(r"\b(?:defender|mde|m365d?|xdr)\b", name)
        sentinel = re.search(r"\bsentinel\b", name)
        if bool(defender) != bool(sentinel):  # naming both says nothing about which query this is
            return "defender" if defender else "sentinel"
    return "other" if OTHER_HEADING.fullmatch(name) else None


def _only_platform(name: str) -> bool:
    """True for "Microsoft Sentinel", "Defender For Endpoint (MDE)"; False for "Defender via DeviceEvents"."""
    return set(re.findall(r"\w+", name.lower())) <= PLATFORM_WORDS


def _heading_text(raw: str | None) -> str:
    text = re.sub(r"(?:^|\s+)#+\s*$", "", raw or "").strip()  # closing "##" of "## Title ##"
    return text.strip("*_` ").strip()


def _closing_fence(lines: list[str], i: int, end: int, fence: re.Match[str]) -> int:
    mark = fence.group(2)
    for n in range(i + 1, end):
        close = FENCE_CLOSE.fullmatch(lines[n])
        if close and close.group(1)[0] == mark[0] and len(close.group(1)) >= len(mark):
            return n
    raise MarkdownImportError(f"code fence {mark} is never closed", i + 1, len(fence.group(1)) + 1)


def _dedent(text: str, indent: int) -> str:
    """Remove up to the fence's own indentation, as markdown does for fenced content."""
    return text[min(indent, len(text) - len(text.lstrip(" "))) :]


def _query_text(block: list[Line]) -> str | None:
    rows = [text.rstrip() for _, text in block]
    while rows and not rows[0]:
        rows.pop(0)
    while rows and not rows[-1]:
        rows.pop()
    return "\n".join(rows) + "\n" if rows else None


def _comment(line: str) -> str | None:
    """Text after `//` outside string literals, so URLs of externaldata(...) strings are not comments."""
    quote, verbatim, i = "", False, 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and not verbatim:
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote, verbatim = ch, line[i - 1 : i] == "@"
        elif line.startswith("//", i):
            return line[i + 2 :]
        i += 1
    return None


def _author_field(text: str) -> str | None:
    """The name on one line of an Author section: "- **Name:** X" or a bare "X"; other fields are links."""
    text = MD_LINK.sub(r"\1", text.replace("*", "").replace("`", "")).strip().lstrip("-+ ").strip()
    if not text or text.startswith("|"):
        return None
    if field_ := re.fullmatch(r"([A-Za-z][\w .()-]*?)\s*:\s*(.*)", text):
        return field_.group(2) if field_.group(1).lower() in ("name", "author", "authors") else None
    return None if URL.search(text) else text


def _names(value: str | None) -> list[str]:
    """Names in "A (a@x.org), B <b@y.org>": contact details dropped, short names only."""
    value = re.sub(r"\([^)]*\)|<[^>]*>|\S+@\S+\.\w+", " ", URL.sub(" ", value or ""))
    names = (" ".join(n.split()).strip(" -") for n in re.split(r"[,;&]|\band\b", value))
    return [n for n in names if n and len(n.split()) <= 5]


def _paragraphs(rows: list[Line]) -> str:
    out: list[str] = []
    for _, text in rows:
        text = re.sub(r"(?<=\S) {2,}", " ", text.replace("\u00a0", " ")).rstrip()
        if text or (out and out[-1]):  # no leading or repeated blank lines
            out.append(text)
    return "\n".join(out).rstrip()


def _date_of(line: str) -> str | None:
    match = DATE_LINE.fullmatch(line.replace("*", "").strip())
    if not match:
        return None
    value = match.group(1).strip().rstrip(".")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _unique(found: list[Line], key: Callable[[str], str] = str) -> list[str]:
    """Values in document order, first spelling kept."""
    seen: set[str] = set()
    out = []
    for _, value in sorted(found, key=lambda item: item[0]):
        if key(value) not in seen:
            seen.add(key(value))
            out.append(value)
    return out
