"""MITRE ATT&CK Enterprise catalog shipped inside the package (see scripts/gen_attack.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Tactic:
    id: str
    shortname: str
    name: str


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    tactics: tuple[str, ...]
    status: str  # active | deprecated | revoked
    replacement: str | None

    @property
    def url(self) -> str:
        return "https://attack.mitre.org/techniques/" + self.id.replace(".", "/") + "/"


@dataclass(frozen=True)
class AttackCatalog:
    version: str
    tactics: dict[str, Tactic]  # by short name
    techniques: dict[str, Technique]

    def tactic_lookup(self, text: str) -> Tactic | None:
        """A tactic written some other way (TA0010, 'Command and Control', CommandAndControl)."""
        folded = "".join(ch for ch in text.casefold() if ch.isalnum())
        for tactic in self.tactics.values():
            names = (tactic.id, tactic.shortname, tactic.name)
            if folded in {"".join(ch for ch in n.casefold() if ch.isalnum()) for n in names}:
                return tactic
        return None


@cache
def load_catalog() -> AttackCatalog:
    raw = json.loads(resources.files("dac").joinpath("data/attack-enterprise.json").read_text("utf-8"))
    tactics = {short: Tactic(tid, short, name) for tid, short, name in raw["tactics"]}
    techniques = {
        tid: Technique(tid, name, tuple(tactics_), status, replacement)
        for tid, (name, tactics_, status, replacement) in raw["techniques"].items()
    }
    return AttackCatalog(raw["version"], tactics, techniques)
