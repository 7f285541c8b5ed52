"""Query engines behind one interface: the embedded emulator (the default, dac.emulator) and a Kusto
engine (Azure Data Explorer or the Kusto emulator container, through azure-kusto-data).

    settings = engine_settings(project, "kusto", cluster="http://localhost:8080", database="NetDefaultDB")
    factory = engine_factory(settings)   # None for the emulator: the test runner keeps its own

base.py holds the interface (Engine, EngineFactory, EngineError, EngineSettings); settings.py chooses
one; kusto.py, kusto_query.py, kusto_results.py and literals.py are the Kusto engine (docs/engines.md).
"""

from .base import (
    EMULATOR,
    ENGINES,
    KUSTO,
    NO_PLATFORM_DATA,
    SERVICE_ERROR,
    Engine,
    EngineError,
    EngineFactory,
    EngineSettings,
    EngineUnavailable,
)
from .settings import engine_factory, engine_settings

__all__ = [
    "EMULATOR",
    "ENGINES",
    "KUSTO",
    "NO_PLATFORM_DATA",
    "SERVICE_ERROR",
    "Engine",
    "EngineError",
    "EngineFactory",
    "EngineSettings",
    "EngineUnavailable",
    "engine_factory",
    "engine_settings",
]
