"""Files that detections, tests and dac.yml name stay inside the project.

Pull requests run untrusted detection files on runners that also hold a GitHub token (in
`.git/config`) and tenant credentials. So every path a file names (fixture tables, `externaldata`
mappings, the `tables` folder of dac.yml, docs templates) is resolved, symlinks followed, and
refused before anything is read unless it stays inside the project root and outside `.git/`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

CONFIG_NAME = "dac.yml"
GIT_FOLDER = ".git"
OUTSIDE_PROJECT = "DAC150"

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|[^\\/]|$)")  # file://, http://, file:x ... but not C:\


class OutsideProject(ValueError):
    """A named path is refused; the message says why, in words for the person who wrote it.
    `unreadable`: the path cannot be resolved at all (a symlink loop), wherever it points."""

    def __init__(self, message: str, *, unreadable: bool = False):
        super().__init__(message)
        self.unreadable = unreadable


def project_root_of(path: Path) -> Path:
    """The root of the project holding `path`: the nearest folder upward with dac.yml, else with .git,
    else the folder of `path` itself. A symlinked `path` belongs to the project it sits in, not to the
    one it points to."""
    lexical = Path(os.path.normpath(path.absolute()))
    folder = lexical if lexical.is_dir() and not lexical.is_symlink() else lexical.parent
    try:
        start = folder.resolve()
    except (OSError, RuntimeError):
        start = folder
    folders = (start, *start.parents)
    for marker in (CONFIG_NAME, GIT_FOLDER):
        for candidate in folders:
            if (candidate / marker).exists():
                return candidate
    return start


@functools.lru_cache(maxsize=64)
def resolved_root(root: Path) -> Path:
    """The project root with its symlinks followed, once per process: every file a detection names is
    checked against it (the files themselves are resolved at each check)."""
    return root.resolve()


def inside_project(root: Path, base: Path, name: str, what: str = "file") -> Path:
    """`name`, as written in a file whose folder is `base`, resolved inside `root`.

    Raises OutsideProject for a URL, an absolute path, a path that leaves the project through `..` or
    a symlink, a path into `.git/`, or one that cannot be resolved (a symlink loop). Nothing is read.
    """
    if not name or "\x00" in name:
        raise OutsideProject(f"{what} path is empty or holds a NUL character")
    if _URL.match(name):
        raise OutsideProject(
            f"{what} '{name}' is a URL; name a file inside the project by its path relative to this file"
        )
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        raise OutsideProject(f"{what} '{name}' is an absolute path; give a path relative to this file")
    if name.startswith("~"):
        raise OutsideProject(f"{what} '{name}' starts with '~'; give a path relative to this file")
    project = resolved_root(root)
    candidate = base / name
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        raise OutsideProject(f"{what} '{name}' cannot be resolved (a symlink loop?)", unreadable=True) from None
    if not resolved.is_relative_to(project):
        leaves = _how_it_leaves(candidate, project)
        raise OutsideProject(f"{what} '{name}' {leaves}; files must stay inside the project")
    if _in_git_folder(resolved.relative_to(project)) or _in_git_folder(PurePosixPath(name.replace("\\", "/"))):
        raise OutsideProject(f"{what} '{name}' is inside .git/, where a checkout keeps its credentials")
    return resolved


def refuse_outside(root: Path, path: Path, what: str = "file") -> Path:
    """An already-joined `path` (e.g. a file found by walking a folder) checked the same way."""
    lexical = Path(os.path.normpath(path.absolute()))
    for project in (Path(os.path.normpath(root.absolute())), resolved_root(root)):
        if lexical.is_relative_to(project):
            return inside_project(project, project, lexical.relative_to(project).as_posix(), what)
    raise OutsideProject(f"{what} '{path.as_posix()}' is outside the project; files must stay inside the project")


def _how_it_leaves(candidate: Path, project: Path) -> str:
    lexical = Path(os.path.normpath(candidate.absolute()))  # `..` taken lexically, no symlinks
    if not lexical.is_relative_to(project):
        return "leaves the project through '..'"
    return "is or passes through a symlink to a place outside the project"


def _in_git_folder(relative: PurePosixPath | Path) -> bool:
    return any(part.lower() == GIT_FOLDER for part in relative.parts)
