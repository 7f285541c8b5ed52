"""The engine a command uses: `--engine`, `--cluster` and `--database` over dac.yml's `engines:`."""

from __future__ import annotations

import importlib.util
import re
from functools import partial
from typing import TYPE_CHECKING

from .base import EMULATOR, KUSTO, EngineSettings, EngineUnavailable, Factory

if TYPE_CHECKING:
    from ..model.project import Project

INSTALL_HINT = "pip install 'dac[kusto]' (azure-kusto-data)"
_URL = re.compile(r"https?://[^\s/]+(/\S*)?", re.I)


def engine_settings(
    project: Project, name: str | None = None, cluster: str | None = None, database: str | None = None
) -> EngineSettings:
    """The settings of the engine asked for; EngineUnavailable (a usage error) when they do not add up."""
    from ..model.project import default_auth

    if (name or EMULATOR) == EMULATOR:
        if cluster is not None or database is not None:
            raise EngineUnavailable("--cluster and --database choose the Kusto engine's database: add --engine kusto")
        return EngineSettings()
    if name != KUSTO:
        raise EngineUnavailable(f"unknown engine '{name}' (engines: {EMULATOR}, {KUSTO})")
    config = project.kusto
    cluster = cluster if cluster is not None else (config.cluster if config else None)
    database = database if database is not None else (config.database if config else None)
    if not cluster or not database:
        missing = " and ".join(part for part, value in (("--cluster URL", cluster), ("--database DB", database))
                               if not value)  # fmt: skip
        raise EngineUnavailable(f"--engine kusto needs {missing} (or engines.kusto in dac.yml: cluster, database)")
    if not _URL.fullmatch(cluster):
        raise EngineUnavailable(f"--cluster: {cluster!r} is not an http:// or https:// URL")
    cluster = cluster.rstrip("/")
    same = config is not None and config.cluster.rstrip("/") == cluster
    auth = config.auth if same and config is not None else default_auth(cluster)
    if not kusto_installed():
        raise EngineUnavailable(f"--engine kusto needs the kusto extra: {INSTALL_HINT}")
    return EngineSettings(
        KUSTO, cluster, database, auth,
        tenant_id=config.tenant_id if config else None, client_id=config.client_id if config else None,
    )  # fmt: skip


def engine_factory(settings: EngineSettings | None) -> Factory | None:
    """What makes an engine per test run; None for the emulator (the test runner keeps one per process)."""
    if settings is None or settings.is_emulator:
        return None
    from .kusto import KustoEngine

    return partial(KustoEngine, settings=settings)


def kusto_installed() -> bool:
    """Whether azure-kusto-data is importable (the `kusto` extra)."""
    try:
        return importlib.util.find_spec("azure.kusto.data") is not None
    except ImportError:  # a parent package (azure.kusto) is missing
        return False
