"""`dac new` (a detection file) and `dac init` (a detections repository); the library is scaffold/."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from .support import fail, guarded


@click.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the file (default: the project's detections folder).",
)
@click.option("--kind", type=click.Choice(["hunting", "detection"]), default="detection", show_default=True)
@click.option("--author", help="Author name (default: git config user.name).")
@guarded
def new_command(name: str, folder: Path | None, kind: str, author: str | None) -> None:
    """Create a detection file for NAME with a fresh id.

    The file is named after NAME and is valid as written; edit its query, metadata and test.
    """
    from ..diagnostics import display_path
    from ..model.project import find_project, schema_reference
    from ..model.yamlwrite import dump_detection
    from ..redaction import write_text
    from ..scaffold.detection import default_author, new_detection, slugify, unique_path

    if not name.strip():
        fail("NAME must not be empty")
    project = find_project()
    target_folder = folder or project.detections_dir
    target_folder.mkdir(parents=True, exist_ok=True)
    target = unique_path(target_folder, slugify(name))
    data = new_detection(name.strip(), kind, author or default_author())
    write_text(target, dump_detection(data, schema_reference(target_folder)), encoding="utf-8")
    click.echo(f"created {display_path(target)} (id {data['id']})")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--install", "install_spec", metavar="SPEC",
              help="pip requirement the workflows and the pre-commit hook install dac from, e.g. "
                   "'dac @ git+https://github.com/ORG/dac@v0.1.0' or a wheel URL (default: where this dac "
                   "was installed from, when that is a git or https URL).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@guarded
def init_command(directory: Path, install_spec: str | None, force: bool) -> None:
    """Create a detections repository in DIRECTORY for a team that installs dac as a package.

    Writes dac.yml (with commented-out Defender and Sentinel targets), an example detection with
    tests under detections/, the pull-request and deploy GitHub workflows, a pre-commit
    configuration, a README and a .gitignore. DIRECTORY may exist; a file already there is never
    overwritten without --force (exit code 2 naming it).
    """
    from ..diagnostics import display_path
    from ..scaffold import repository as init
    from ..scaffold.detection import default_author

    spec = install_spec if install_spec is not None else init.default_install_spec()
    if spec is None:
        fail(
            "pass --install SPEC, the pip requirement your workflows install dac from, e.g. "
            "--install 'dac @ git+https://github.com/ORG/dac@v0.1.0': this dac was installed from a local "
            f"folder, which other machines cannot reach, and {init.PYPI_NAME_NOTE}"
        )
    try:
        files = init.scaffold(directory, spec, default_author())
    except ValueError as exc:
        fail(f"--install: {exc}")
    taken = init.existing_files(directory, files)
    if taken and not force:
        names = ", ".join(display_path(path) for path in taken)
        fail(f"{names} already exist{'s' if len(taken) == 1 else ''}; pass --force to overwrite")
    for path in init.write(directory, files):
        click.echo(f"created {display_path(path)}")
    click.echo(f"\nthe workflows and the pre-commit hook install dac with: {init.install_command(spec)}")
    click.echo("(run again with --install SPEC --force if your team installs dac from elsewhere)")
    click.echo(_next_steps(directory))


def _next_steps(directory: Path) -> str:
    from ..diagnostics import display_path

    return (
        "\nnext steps:\n"
        f"  1. cd {shlex.quote(display_path(directory))} && git init, then commit and push to GitHub\n"
        "  2. dac check: validates the example detection and runs its tests\n"
        "  3. in dac.yml, add your targets; for each, a GitHub environment of the same name with the\n"
        "     variables AZURE_CLIENT_ID and AZURE_TENANT_ID, and an Entra ID federated credential (dac's ci.md)\n"
        "  4. optional: pre-commit install, to run dac validate on every commit"
    )
