"""A target from dac.yml -> the rule client for its platform, signed in with its credential."""

from __future__ import annotations

from ..project import Target
from . import RuleClient
from .auth import credential_for, scope_for
from .defender import DefenderClient
from .http import ApiSession, TokenCredential
from .sentinel import SentinelClient


def client_for(target: Target, credential: TokenCredential | None = None) -> RuleClient:
    """The Defender (Graph) or Sentinel (ARM) client of a target; the credential comes from the
    environment (see auth.credential_for) unless one is given."""
    credential = credential or credential_for(target.tenant_id, target.client_id)
    session = ApiSession(target.base_url, credential, scope_for(target.base_url), pool_size=max(16, target.concurrency))
    if target.platform == "defender":
        return DefenderClient(session)
    assert target.subscription_id and target.resource_group and target.workspace  # required by the schema
    return SentinelClient(session, target.subscription_id, target.resource_group, target.workspace)
