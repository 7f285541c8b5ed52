"""ATT&CK coverage: which detections cover which technique, measured against the packaged catalog.

What counts: every detection whose status is not `deprecated` (hunting queries and rules alike), for
each technique id in its `mitre.techniques`. A sub-technique counts for itself only; its parent is
"covered" in the per-tactic totals (which count techniques, as the ATT&CK matrix does) when the
parent or any of its sub-techniques is named. A technique counts under every tactic it has in
ATT&CK, as in the ATT&CK Navigator.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .model.attack import AttackCatalog, Tactic, Technique, load_catalog
from .model.detection import Detection

UNCOUNTED_STATUSES = frozenset({"deprecated"})


def counts(detection: Detection, statuses: Collection[str] | None = None, kinds: Collection[str] | None = None) -> bool:
    """Whether the detection counts: by default any kind and any status but deprecated."""
    status = detection.data.get("status")
    status_ok = status in statuses if statuses else status not in UNCOUNTED_STATUSES
    return status_ok and (not kinds or detection.kind in kinds)


def _ordered(detections: Iterable[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: (d.name.casefold(), d.display))


def technique_coverage(
    detections: Iterable[Detection],
    statuses: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
) -> dict[str, list[Detection]]:
    """Technique id (as written in the detections) -> the detections naming it, ordered by id then name."""
    found: dict[str, list[Detection]] = {}
    for detection in detections:
        if not counts(detection, statuses, kinds):
            continue
        for technique_id in dict.fromkeys(detection.mitre.get("techniques") or []):
            found.setdefault(technique_id, []).append(detection)
    return {technique_id: _ordered(found[technique_id]) for technique_id in sorted(found)}


def parent_id(technique_id: str) -> str:
    """T1059.001 -> T1059; a technique is its own parent."""
    return technique_id.split(".", 1)[0]


@dataclass(frozen=True)
class TacticCoverage:
    tactic: Tactic
    covered: tuple[str, ...]  # active top-level techniques named directly or through a sub-technique
    total: int  # active top-level techniques of the tactic
    named: tuple[str, ...]  # technique and sub-technique ids named by detections, in this tactic
    detections: tuple[Detection, ...]  # detections naming anything in this tactic

    @property
    def url(self) -> str:
        return f"https://attack.mitre.org/tactics/{self.tactic.id}/"


@dataclass(frozen=True)
class Coverage:
    """The coverage of a set of detections, with what the renderers need to present it."""

    catalog: AttackCatalog
    by_technique: dict[str, list[Detection]]  # from technique_coverage()
    detections: tuple[Detection, ...]  # the detections that count, ordered by name

    def technique(self, technique_id: str) -> Technique | None:
        return self.catalog.techniques.get(technique_id)

    @property
    def known(self) -> list[str]:
        """Named technique ids that are in the catalog."""
        return [t for t in self.by_technique if t in self.catalog.techniques]

    @property
    def unknown(self) -> list[str]:
        """Named technique ids that the catalog does not have (dac validate reports them, DAC402)."""
        return [t for t in self.by_technique if t not in self.catalog.techniques]

    def subtechniques_named(self, technique_id: str) -> list[str]:
        return [t for t in self.known if "." in t and parent_id(t) == technique_id]

    def tactics(self) -> list[TacticCoverage]:
        """Every tactic of the catalog, in matrix order, with its coverage."""
        return [self._tactic(tactic) for tactic in self.catalog.tactics.values()]

    def _tactic(self, tactic: Tactic) -> TacticCoverage:
        techniques = self.catalog.techniques
        top_level = {
            t.id
            for t in techniques.values()
            if "." not in t.id and t.status == "active" and tactic.shortname in t.tactics
        }
        named = [t for t in self.known if tactic.shortname in techniques[t].tactics]
        covered = sorted({parent_id(t) for t in named} & top_level)
        detections = _ordered({d.display: d for t in named for d in self.by_technique[t]}.values())
        return TacticCoverage(tactic, tuple(covered), len(top_level), tuple(named), tuple(detections))


def coverage(
    detections: Iterable[Detection],
    statuses: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    catalog: AttackCatalog | None = None,
) -> Coverage:
    """The coverage of `detections` (filtered as in `counts`) against the packaged ATT&CK catalog."""
    counted = _ordered(d for d in detections if counts(d, statuses, kinds))
    return Coverage(catalog or load_catalog(), technique_coverage(counted), tuple(counted))
