"""What the writer emits is what the loader reads back, and it stays readable."""

from __future__ import annotations

import random
import string

import pytest

from dac.model.yamlsource import load_yaml_text
from dac.model.yamlwrite import dump_detection

TRICKY_STRINGS = [
    "NO", "yes", "true", "null", "~", "1.0", "1:30", "0x1F", "- item", "a: b", "#hash", "@at", "`tick`",
    "trailing ", " leading", "", "[x]", "{y}", "it's", 'say "hi"', "comma, here", "tab\there", "ünïcode ✓",
    "https://example.org/a?b=c&d=e", "2024-12-02", "  indented\nblock\n", "no newline\nat end",
    "two newlines\n\n", "line\r\nbreaks", "*alias", "&anchor", "!tag", "%percent", "|pipe", ">fold",
]  # fmt: skip


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_strings_round_trip(text: str):
    data = {"name": text, "tags": [text, "x"], "query": {"text": text}}
    assert load_yaml_text(dump_detection(data), "w.yml").data == data


def test_random_documents_round_trip():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " :-#'\"\n[]{},&*!|>%@`\t"

    def value(depth: int):
        kind = rng.randrange(6 if depth < 3 else 4)
        if kind == 0:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        if kind == 1:
            return rng.choice([0, -3, 42, 1.5, True, False, None])
        if kind == 2:
            return rng.choice(TRICKY_STRINGS)
        if kind == 3:
            return [rng.choice(TRICKY_STRINGS) for _ in range(rng.randrange(4))]
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}": value(depth + 1) for i in range(rng.randrange(4))}

    for _ in range(300):
        data = {f"field{i}": value(0) for i in range(rng.randrange(1, 6))}
        assert load_yaml_text(dump_detection(data), "r.yml").data == data


def test_queries_are_block_scalars_in_field_order():
    text = dump_detection(
        {"query": {"dialect": "defender", "text": "T\n| take 1\n"}, "name": "Name", "id": "x"}, "../s.json"
    )
    assert text == (
        "# yaml-language-server: $schema=../s.json\n"
        "id: x\nname: Name\nquery:\n  dialect: defender\n  text: |\n    T\n    | take 1\n"
    )
