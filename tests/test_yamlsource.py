"""The loader: positions of keys and values, YAML 1.2 core scalars, limits."""

from __future__ import annotations

import pytest

from dac.diagnostics import Position
from dac.model.yamlsource import ScalarStyle, YamlLoadError, load_yaml_bytes, load_yaml_text

DOC = """\
# comment
name: Example
count: 3
flags: [NO, yes, true, false, ~, 1:30, 0x1F, 0o17, 1.5e3]
created: 2024-12-02
query:
  text: |
    DeviceEvents
    | take 1
tests:
  - name: first
    rows:
      - {Country: NO, Port: 22}
"""


def test_values_are_yaml_core_schema():
    data = load_yaml_text(DOC, "d.yml").data
    assert data["flags"] == ["NO", "yes", True, False, None, "1:30", 31, 15, 1500.0]
    assert data["created"] == "2024-12-02"
    assert data["tests"][0]["rows"][0] == {"Country": "NO", "Port": 22}
    assert data["query"]["text"] == "DeviceEvents\n| take 1\n"


def test_positions_of_keys_values_and_block_scalars():
    loaded = load_yaml_text(DOC, "d.yml")
    assert loaded.key_position(("name",)) == Position(2, 1)
    assert loaded.position(("name",)) == Position(2, 7)
    assert loaded.position(("flags", 1)) == Position(4, 13)
    assert loaded.position(("tests", 0, "rows", 0, "Port")) == Position(13, 29)
    assert loaded.block_starts[("query", "text")] == Position(8, 5)
    # an unknown path falls back to its nearest known ancestor
    assert loaded.position(("tests", 0, "missing")) == loaded.position(("tests", 0))


def test_merge_keys_explicit_keys_win():
    data = load_yaml_text("base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  b: 3\n", "m.yml").data
    assert data["child"] == {"a": 1, "b": 3}


def test_bom_is_accepted():
    assert load_yaml_bytes(b"\xef\xbb\xbfa: 1\n", "bom.yml").data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "code", "position"),
    [
        ("a: 1\nb: 2\na: 3\n", "DAC108", Position(3, 1)),
        ("a:\n  b: 1\n  b: 2\n", "DAC108", Position(3, 3)),
        ("a: [1, 2\n", "DAC104", Position(1, 4)),  # the '[' that is never closed, not the end of the file
        ("a: !!binary aGk=\n", "DAC107", Position(1, 4)),
        ("? [a, b]\n: 1\n", "DAC107", Position(1, 3)),
        ("a: &x [*x]\n", "DAC106", Position(1, 4)),
        ("   \n\n", "DAC101", Position(1, 1)),
    ],
)
def test_errors_are_positioned(text: str, code: str, position: Position):
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text(text, "e.yml")
    assert (caught.value.diagnostic.code, caught.value.diagnostic.position) == (code, position)


def test_invalid_utf8_points_at_the_byte():
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_bytes("a: 1\nname: café \xff\n".encode("utf-8", "surrogateescape")[:-2] + b"\xff\n", "u.yml")
    assert caught.value.diagnostic.code == "DAC102"
    assert caught.value.diagnostic.position == Position(2, 12)


def test_explicit_bool_tag_accepts_only_true_and_false():
    assert load_yaml_text("a: !!bool true\n", "b.yml").data == {"a": True}
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text("a: !!bool yes\n", "b.yml")
    assert caught.value.diagnostic.code == "DAC107"


def syntax_error(text: str):
    with pytest.raises(YamlLoadError) as caught:
        load_yaml_text(text, "e.yml")
    return caught.value.diagnostic


# Each mistake: (text, code, where the mistake is, a phrase of the message, where PyYAML stopped or None).
MISTAKES = {
    "block line less indented than the first": (
        "query:\n  dialect: defender\n  text: |\n      DeviceEvents\n    | take 1\nname: x\n",
        "DAC104",
        Position(5, 5),
        "this line is less indented than the block above it ('text: |' on line 3, whose lines start at column 7): "
        "indent it to continue the block, or line it up with 'text' if it starts a new key",
        Position(5, 7),
    ),
    "block broken by a word, noticed a line later": (
        "query:\n  text: |\n    DeviceEvents\n  where x == 1\n  | take 1\nname: x\n",
        "DAC104",
        Position(4, 3),
        "less indented than the block above it",
        Position(5, 3),
    ),
    "block broken by a comment line": (
        "query:\n  text: |\n    DeviceEvents\n  // comment\n    | take 1\nname: x\n",
        "DAC104",
        Position(4, 3),
        "less indented than the block above it",
        Position(6, 1),
    ),
    "key between the block and its owner": (
        "query:\n  text: |\n      DeviceEvents\n    dialect: defender\n",
        "DAC104",
        Position(4, 5),
        "this key is less indented than the block above it ('text: |' on line 2, whose lines start at column 7) "
        "but more than 'text'",
        None,
    ),
    "empty block": (
        "query:\n  text: |\n  DeviceEvents\n  | take 1\n",
        "DAC104",
        Position(3, 3),
        "so the 'text: |' block on line 2 is empty",
        Position(4, 3),
    ),
    "plain value continued unindented": (
        "description: a long\ntext continued\nname: x\n",
        "DAC104",
        Position(2, 1),
        "this line continues the value of 'description' from line 1, but is not indented more than 'description'",
        Position(3, 1),
    ),
    "plain query continued with a pipe": (
        "query:\n  text: DeviceEvents\n  | take 1\n",
        "DAC104",
        Position(3, 3),
        "write 'text: |'",
        Position(3, 5),
    ),
    "colon-space in a value": (
        "name: x\ndescription: note: this breaks\n",
        "DAC104",
        Position(2, 14),
        "the value of 'description' contains ': ', which YAML reads as the start of another key: put the whole "
        "value in quotes: description: 'note: this breaks'",
        Position(2, 18),
    ),
    "colon-space in a list item's value": (
        "tags:\n  - a: b: c\n",
        "DAC104",
        Position(2, 8),
        "put the whole value in quotes: a: 'b: c'",
        Position(2, 9),
    ),
    "key indented more than its sibling": (
        "query:\n  dialect: defender\n   text: x\n",
        "DAC104",
        Position(3, 4),
        "this line is indented more than 'dialect' on line 2, so YAML reads it as more of that value",
        Position(3, 8),
    ),
    "key that lines up with nothing": (
        "query:\n    dialect: defender\n  text: x\n",
        "DAC104",
        Position(3, 3),
        "this line starts at column 3, which lines up with no mapping or list above it (on line 2, 'dialect' "
        "starts at column 5)",
        None,
    ),
    "no space after the colon": (
        "name:x\nkind: hunting\n",
        "DAC104",
        Position(1, 1),
        "this line needs a space after ':' (YAML reads it and line 2 as one text): write 'name: x'",
        Position(2, 5),
    ),
    "no colon after the key": (
        "name x\nkind: hunting\n",
        "DAC104",
        Position(1, 1),
        "this line has no ':' after its key (YAML reads it and line 2 as one text): write 'name: x'",
        Position(2, 5),
    ),
    "unclosed double quote": (
        'name: "abc\nkind: hunting\n',
        "DAC104",
        Position(1, 7),
        'the " opened here is never closed: add the closing " at the end of the value',
        Position(3, 1),
    ),
    "quote closed on a later line": (
        'name: "abc\nkind: hunting\ndescription: "x"\n',
        "DAC104",
        Position(1, 7),
        'the " opened here is not closed on this line, so the value runs on to the " on line 3',
        Position(3, 15),
    ),
    "text after the closing quote": (
        'name: "abc" def\n',
        "DAC104",
        Position(1, 13),
        'text after the closing " of the value: put the whole value inside the quotes',
        None,
    ),
    "unclosed flow mapping": (
        "alert: {title: x, description: y\nkind: hunting\n",
        "DAC104",
        Position(1, 8),
        "the '{' opened here is never closed: end the mapping with '}' on this line",
        Position(2, 5),
    ),
    "unclosed flow sequence at the end": (
        "name: x\ntags: [\n",
        "DAC104",
        Position(2, 7),
        "the '[' opened here is never closed: end the list with ']' on this line",
        Position(3, 1),
    ),
    "colon inside a closed flow mapping": (
        "alert: {title: Alert: x, description: y}\n",
        "DAC104",
        Position(1, 21),
        "a ': ' inside a value of this {...} mapping",
        None,
    ),
    "backslash in double quotes": (
        'path: "C:\\Windows"\n',
        "DAC104",
        Position(1, 10),
        "'\\W' is not an escape sequence in a double-quoted value: write the backslash twice",
        Position(1, 11),
    ),
    "value starting with *": (
        "file: *.exe\n",
        "DAC104",
        Position(1, 7),
        "a value that starts with '*' is read as a YAML alias",
        Position(1, 8),
    ),
    "text after the block indicator": (
        "query:\n  text: | DeviceEvents\n",
        "DAC104",
        Position(2, 11),
        "nothing but a comment may follow '|' on its line",
        None,
    ),
    "first key indented, the next not": (
        "# comment\n id: 1\nname: x\n",
        "DAC104",
        Position(3, 1),
        "this line starts at column 1, which lines up with no mapping or list above it",
        None,
    ),
    "tab for indentation": (
        "query:\n\tdialect: defender\n",
        "DAC105",
        Position(2, 1),
        "tab character in indentation; YAML indents with spaces only: replace the tab with spaces",
        None,
    ),
    "tab after a colon": (
        "name:\tx\n",
        "DAC105",
        Position(1, 6),
        "tab character after 'name:'; YAML separates with spaces only: replace the tab with a space",
        None,
    ),
    "duplicate key": (
        "name: a\nkind: b\nname: c\n",
        "DAC108",
        Position(3, 1),
        "duplicate key 'name' (first defined at 1:1): a key may appear only once in a mapping",
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_syntax_errors_name_the_mistake_where_it_is(name: str):
    text, code, where, phrase, stopped = MISTAKES[name]
    diagnostic = syntax_error(text)
    assert (diagnostic.code, diagnostic.position) == (code, where), diagnostic.format()
    assert phrase in diagnostic.message, diagnostic.message
    stopped_notes = [note for note in diagnostic.notes if note.startswith("YAML stopped at")]
    if stopped is None:
        assert stopped_notes == []
    else:
        assert stopped_notes and stopped_notes[0].startswith(f"YAML stopped at {stopped.line}:{stopped.column}: ")


def test_an_unrecognised_syntax_error_keeps_the_parsers_words():
    diagnostic = syntax_error("a: [b, : c]\n")
    assert diagnostic.code == "DAC104"
    assert diagnostic.message.startswith("invalid YAML: ")
    assert diagnostic.notes and diagnostic.notes[0].startswith("while parsing a flow")


def test_a_second_document_is_still_named():
    diagnostic = syntax_error("a: 1\n---\nb: 2\n")
    assert (diagnostic.position, diagnostic.message) == (
        Position(2, 1),
        "invalid YAML: a detection file holds exactly one YAML document (found a second '---')",
    )


def test_long_values_are_shortened_in_the_suggestion():
    diagnostic = syntax_error("title: Alert: " + "x" * 200 + "\n")
    assert diagnostic.message.endswith("...'")
    assert len(diagnostic.message) < 250


def test_crlf_line_ends_keep_the_positions():
    diagnostic = syntax_error("query:\r\n  text: |\r\n    DeviceEvents\r\n  where x\r\nname: x\r\n")
    assert diagnostic.position == Position(4, 3)


def test_scalar_styles_are_recorded_per_path():
    text = "a: plain\nb: |\n  lit\nc: >\n  one\n  two\nd:\n  x\n  y\ne: 'q'\n"
    styles = load_yaml_text(text, "s.yml").scalar_styles
    assert styles[("a",)] == ScalarStyle(None, Position(1, 4), Position(1, 9))
    assert styles[("b",)].style == "|"
    assert styles[("c",)] == ScalarStyle(">", Position(4, 4), Position(7, 1))
    assert styles[("d",)] == ScalarStyle(None, Position(8, 3), Position(9, 4))
    assert styles[("e",)].style == "'"


def test_scalar_styles_follow_merge_keys():
    styles = load_yaml_text("base: &b {t: x}\nchild:\n  <<: *b\n", "m.yml").scalar_styles
    assert styles[("child", "t")] == styles[("base", "t")]


@pytest.mark.parametrize(
    "text, position",
    [
        # The document's root is level 0: the 65th bracket, the key inside the 64th brace and the 65th dash
        # (line 66) are the first nodes at level 65.
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", Position(1, 3 + 65)),
        ("a: " + "{b: " * 10_000 + "1" + "}" * 10_000 + "\n", Position(1, 4 + 4 * 63 + 1)),
        ("a:\n" + "".join("  " * i + "-\n" for i in range(10_000)), Position(66, 129)),
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)
def test_deep_nesting_stops_at_the_limit_without_recursing(text, position):
    # PyYAML composes nodes recursively: the loader stops at 64 levels, far below Python's recursion limit.
    try:
        with pytest.raises(YamlLoadError) as caught:
            load_yaml_text(text, "deep.yml")
    except RecursionError:  # pragma: no cover - the failure this test guards against
        pytest.fail("deep YAML nesting reached Python's recursion limit")
    assert caught.value.diagnostic.code == "DAC106"
    assert Position(caught.value.diagnostic.line, caught.value.diagnostic.column) == position


@pytest.mark.parametrize(
    "text",
    [
        'name: "héllo 😀 wörld"\nother: [a, ü, {x: 1}]\nq: |\n  ünïcode 😀 line\n  second\nlast: é\n',
        "a: &x {b: [1, 2]}\nc: *x\nd: >\n  folded\n  text\ne: 'it''s'\nf: NO\ng: 1:30\nh: 2024-01-01\n",
        "a:\n  - b: 1\n    c: [1, 2\n",  # a syntax error: the Python loader explains it
        "a: 1\na: 2\n",  # a duplicate key
        "[" * 80 + "]" * 80 + "\n",  # too deep
        "name:\tx\n",  # a tab libyaml would take
    ],
)
def test_libyaml_and_python_loaders_give_the_same_data_positions_and_errors(text, monkeypatch):
    """libyaml scans and parses when PyYAML has it (the speed of `dac check`); the result must be the
    pure-Python loader's to the character: data, every position, scalar styles and diagnostics."""
    from dac.model import yamlsource

    def load(fast: bool):
        monkeypatch.setattr(yamlsource, "_FAST", fast)
        try:
            loaded = yamlsource.load_yaml_text(text, "f.yml")
        except YamlLoadError as exc:
            return exc.diagnostic.format()
        return (loaded.data, loaded.value_positions, loaded.key_positions, loaded.block_starts, loaded.scalar_styles)

    assert load(True) == load(False)
