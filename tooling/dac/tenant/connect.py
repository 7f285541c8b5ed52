"""A target from dac.yml -> the query client of its platform, signed in like the deployer."""

from __future__ import annotations

from typing import Any

from ..deploy.auth import credential_for, scope_for
from ..deploy.http import ApiSession, TokenCredential
from ..model.project import Target
from .hunting import HuntingClient
from .loganalytics import LogAnalyticsClient
from .results import TenantQueryClient


def query_client_for(target: Target, credential: TokenCredential | None = None, **options: Any) -> TenantQueryClient:
    """Advanced Hunting (Graph, `api.graph`) for a Defender target, Log Analytics (`api.loganalytics`, the
    workspace by its ARM resource id) for a Sentinel target. `options` go to ApiSession (Defender) or
    LogAnalyticsClient (Sentinel): timeouts, retry limits, the back-off sleep. Raises MissingExtra when
    a Sentinel target's library is not installed."""
    credential = credential or credential_for(target.tenant_id, target.client_id)
    if target.platform == "defender":
        options.setdefault("read_timeout", 240.0)  # a hunting query may run up to 200 s
        session = ApiSession(target.query_url, credential, scope_for(target.query_url), user_agent="dac-query",
                             **options)  # fmt: skip
        return HuntingClient(session)
    resource_id = target.workspace_resource_id
    assert resource_id is not None  # the schema requires the workspace keys of a Sentinel target
    return LogAnalyticsClient(resource_id, credential, target.query_url, **options)
