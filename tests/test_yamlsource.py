"""The loader: positions of keys and values, YAML 1.2 core scalars, limits."""

from __future__ import annotations

import pytest

from dac.diagnostics import Position
from dac.yamlsource import YamlLoadError, load_yaml_bytes, load_yaml_text

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
        ("a: [1, 2\n", "DAC104", Position(2, 1)),
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
