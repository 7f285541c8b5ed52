"""`dac new`: a new detection file with a fresh id, valid from the first save."""

from __future__ import annotations

import datetime as dt
import getpass
import re
import subprocess
import unicodedata
import uuid
from pathlib import Path
from typing import Any


def slugify(name: str, limit: int = 60) -> str:
    """File name stem for a detection name: lowercase ASCII words joined by '-'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] or slug[:limit]
    return slug or "detection"


def unique_path(folder: Path, stem: str, taken: set[Path] | None = None) -> Path:
    """folder/stem.yml, or stem-2.yml, stem-3.yml, ... when that name is taken."""
    taken = taken or set()
    candidate = folder / f"{stem}.yml"
    counter = 2
    while candidate.exists() or candidate in taken:
        candidate = folder / f"{stem}-{counter}.yml"
        counter += 1
    return candidate


def default_author() -> str:
    try:
        completed = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=10, check=False
        )
        if completed.returncode == 0 and completed.stdout.strip():
            return completed.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def new_detection(name: str, kind: str, author: str, today: dt.date | None = None) -> dict[str, Any]:
    today_text = (today or dt.date.today()).isoformat()
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "description": "What this query finds, why it matters, and its known false positives.\n",
        "kind": kind,
        "status": "experimental",
        "severity": "medium",
        "authors": [author],
        "created": today_text,
        "modified": today_text,
        "version": "0.1.0",
        "tags": [],
        "references": [],
        "mitre": {"tactics": [], "techniques": []},
        "query": {
            "dialect": "defender",
            "text": (
                "DeviceProcessEvents\n"
                "| where Timestamp > ago(1h)\n"
                '| where FileName =~ "example.exe"\n'
                "| project Timestamp, DeviceId, DeviceName, ReportId, FileName, ProcessCommandLine\n"
            ),
        },
    }
    if kind == "detection":
        data["schedule"] = {"frequency": "1h", "lookback": "1h"}
        data["trigger"] = {"operator": "gt", "threshold": 0}
        data["alert"] = {
            "title": f"{name} on {{{{DeviceName}}}}",
            "description": "Explain what happened and what the analyst sees.",
            "recommended_actions": "What a responder should check first.",
            "entities": [{"type": "host", "column": "DeviceName"}],
        }
    data["tests"] = [
        {
            "name": "a matching process is reported",
            "now": f"{today_text}T12:00:00Z",
            "tables": {
                "DeviceProcessEvents": [
                    {
                        "Timestamp": f"{today_text}T11:30:00Z",
                        "DeviceName": "ws1",
                        "FileName": "example.exe",
                        "ProcessCommandLine": "example.exe --flag",
                    }
                ]
            },
            "expect": {"count": 1, "rows": [{"DeviceName": "ws1"}]},
        }
    ]
    return data
