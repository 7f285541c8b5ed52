"""A target from dac.yml -> the rule client for its platform, signed in with its credential."""

from __future__ import annotations

from typing import Any

from ..model.project import Target
from . import RuleClient
from .auth import credential_for, scope_for
from .defender import DefenderClient
from .http import ApiSession, TokenCredential
from .saved_searches import SavedSearchClient
from .sentinel import SentinelClient
from .sentinel_content import SentinelContentClient


def client_for(target: Target, credential: TokenCredential | None = None, **session_options: Any) -> RuleClient:
    """The Defender (Graph) or Sentinel (ARM) client of a target; the credential comes from the
    environment (see auth.credential_for) unless one is given. `session_options` go to ApiSession
    (timeouts, retry limits, the back-off sleep)."""
    credential = credential or credential_for(target.tenant_id, target.client_id)
    session_options.setdefault("pool_size", max(16, target.concurrency))
    session = ApiSession(target.base_url, credential, scope_for(target.base_url), **session_options)
    if target.platform == "defender":
        return DefenderClient(session)
    assert target.subscription_id and target.resource_group and target.workspace  # required by the schema
    where = (target.subscription_id, target.resource_group, target.workspace)
    rules = SentinelClient(session, *where)
    if "hunting" not in target.kinds:  # its saved searches are none of its business (nor pruned)
        return rules
    return SentinelContentClient(rules, SavedSearchClient(session, *where))
