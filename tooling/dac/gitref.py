"""Reading files as they were at a git ref, through the git command line."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    """git is missing, the folder is not a repository, or the ref does not exist (exit code 2)."""


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within 120 seconds") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed")
    return completed.stdout


def repository_root(folder: Path) -> Path:
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    except GitError:
        raise GitError(f"{folder} is not inside a git repository (needed for --base)") from None


def relative_folder(root: Path, folder: Path) -> str:
    """`folder` relative to the repository `root`, as git names it; GitError when it is outside."""
    resolved = folder.resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        raise GitError(f"{resolved} is outside the git repository {root}") from None


def resolve_commit(root: Path, ref: str) -> str:
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).decode().strip()
    except GitError:
        raise GitError(f"unknown git ref '{ref}'") from None


def read_tree(root: Path, commit: str, folder: str, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """Contents of the files under `folder` (relative to the repository root) at `commit`."""
    listing = _git(["ls-tree", "-r", "-z", commit, "--", folder or "."], root)
    names = []
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, name = entry.partition("\t")
        # only blobs: a submodule (commit entry) named *.yml has no content to read
        if meta.split(" ")[1:2] == ["blob"] and name.endswith(suffixes):
            names.append(name)
    if not names:
        return {}
    request = "".join(f"{commit}:{name}\n" for name in names).encode("utf-8", "surrogateescape")
    output = _git(["cat-file", "--batch"], root, stdin=request)
    contents: dict[str, bytes] = {}
    offset = 0
    for name in names:
        header_end = output.index(b"\n", offset)
        header = output[offset:header_end].split()
        size = int(header[2])
        start = header_end + 1
        contents[name] = output[start : start + size]
        offset = start + size + 1  # content is followed by a newline
    return contents
