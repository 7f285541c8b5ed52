"""`dac report`: reports for reviewers (`dac report pr`)."""

from __future__ import annotations

from pathlib import Path

import click

from .support import guarded as _guarded


@click.group("report")
def report_group() -> None:
    """Reports for reviewers."""


@report_group.command("pr")
@click.option("--base", "base_ref", metavar="REF", required=True,
              help="Git ref the pull request merges into, e.g. origin/main.")  # fmt: skip
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the markdown to FILE instead of stdout.")  # fmt: skip
@click.option("--max-chars", type=click.IntRange(min=1000), default=65_000, show_default=True,
              help="Drop detail (rendered queries, then diffs, then per-detection sections) to stay under "
                   "this length; GitHub refuses comments over 65,536 characters.")  # fmt: skip
@_guarded
def report_pr_command(base_ref: str, out_file: Path | None, max_chars: int) -> None:
    """Markdown review of what a pull request changes in the detections.

    Compares the working tree's detections folder with REF (read through git, nothing is checked
    out): detections added, changed (matched by id, so moves count as changes) and removed. Each
    one shows its validation findings (including the checks against REF), its test results on the
    emulator, its query diff against REF and its rendered Defender and Sentinel queries (collapsed);
    then ATT&CK coverage before and after. The first line is the marker `<!-- dac:pr-report -->`,
    by which the pull-request workflow finds and updates its one comment.

    Exit code 0 when the report was written, whatever it found (`dac validate` and `dac test` gate
    the pull request); 2 for a bad REF or project.
    """
    from ..model.project import find_project
    from ..redaction import write_text
    from ..reports import pr
    from ..review import review

    markdown = pr.render(review(find_project(), base_ref), max_chars=max_chars)
    if out_file is None:
        click.echo(markdown, nl=False)
        return
    if out_file.parent != Path():
        out_file.parent.mkdir(parents=True, exist_ok=True)
    write_text(out_file, markdown, encoding="utf-8")
    click.echo(f"wrote {out_file} ({len(markdown):,} characters)", err=True)
