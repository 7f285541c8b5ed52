"""Credentials for the deploy APIs (azure-identity), chosen from the environment.

`credential_for(tenant_id, client_id)` picks, in order:
1. `DAC_ACCESS_TOKEN` set: a `StaticTokenCredential` with that bearer token. A testing/escape hatch
   only (e.g. a token from `az account get-access-token`): it is not refreshed, and one token has
   one audience, so it serves one platform (Graph or ARM) per run.
2. GitHub Actions OIDC (`ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present
   with `permissions: id-token: write`) and a client id (argument or `AZURE_CLIENT_ID`): workload
   identity federation through `ClientAssertionCredential`; the assertion callback asks GitHub for
   a fresh OIDC token on every call, so a long run survives the first exchanged token expiring.
3. Otherwise `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI,
   ...), told the tenant where it accepts one.

Sovereign clouds: the token scope is `<base host>/.default` (`scope_for`); the Entra authority
comes from azure-identity's own `AZURE_AUTHORITY_HOST`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from .http import AccessToken, TokenCredential, default_scope, redact

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"
GITHUB_AUDIENCE = "api://AzureADTokenExchange"
TOKEN_ENV = "DAC_ACCESS_TOKEN"


def scope_for(base_url: str) -> str:
    """Token scope for an API base URL: https://graph.microsoft.com/beta -> https://graph.microsoft.com/.default."""
    return default_scope(base_url)


class StaticTokenCredential:
    """A fixed bearer token for every scope (tests, and `DAC_ACCESS_TOKEN`)."""

    def __init__(self, token: str, expires_on: int | None = None) -> None:
        if not token:
            raise ValueError("empty token")
        self._token = token
        self._expires_on = expires_on

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        # Unknown expiry: claim an hour from now so callers do not treat it as expired.
        return AccessToken(self._token, self._expires_on or int(time.time()) + 3600)

    def __repr__(self) -> str:  # the token must not show up in logs or tracebacks
        return "StaticTokenCredential(<token>)"


class OidcTokenError(Exception):
    """GitHub did not hand out an OIDC token."""


def github_oidc_token(
    request_url: str,
    request_token: str,
    *,
    audience: str = GITHUB_AUDIENCE,
    timeout: float = 10.0,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """One fresh GitHub Actions OIDC token (a JWT) for `audience`."""
    separator = "&" if "?" in request_url else "?"
    url = f"{request_url}{separator}audience={audience}"
    headers = {"Authorization": f"bearer {request_token}", "Accept": "application/json"}
    problem = "no attempt"
    for attempt in range(1, attempts + 1):
        try:
            response = requests.get(url, headers=headers, timeout=(timeout, timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = type(exc).__name__
        else:
            if response.status_code == 200:
                try:
                    value = response.json().get("value")
                except (ValueError, AttributeError):
                    value = None
                if isinstance(value, str) and value:
                    return value
                problem = "answer without 'value'"
                break  # a malformed 200 will not get better
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break
        if attempt < attempts:
            sleep(float(attempt))
    raise OidcTokenError(redact(f"GitHub OIDC token request failed: {problem}", (request_token,)))


def github_assertion(
    request_url: str, request_token: str, *, audience: str = GITHUB_AUDIENCE, timeout: float = 10.0
) -> Callable[[], str]:
    """The assertion callback for ClientAssertionCredential: a new GitHub OIDC token per call."""

    def assertion() -> str:
        return github_oidc_token(request_url, request_token, audience=audience, timeout=timeout)

    return assertion


def credential_for(
    tenant_id: str | None, client_id: str | None = None, *, environ: Mapping[str, str] | None = None
) -> TokenCredential:
    """The credential for this environment (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    static = env.get(TOKEN_ENV)
    if static:
        return StaticTokenCredential(static)

    from azure.identity import ClientAssertionCredential, DefaultAzureCredential

    tenant = tenant_id or env.get("AZURE_TENANT_ID") or None
    client = client_id or env.get("AZURE_CLIENT_ID") or None
    request_url = env.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if request_url and request_token and client:
        if not tenant:
            raise ValueError("GitHub OIDC federation needs a tenant id (configuration or AZURE_TENANT_ID)")
        return ClientAssertionCredential(tenant, client, github_assertion(request_url, request_token))

    # DefaultAzureCredential refuses tenant_id; these are the tenant options of its members.
    kwargs: dict[str, Any] = {}
    if tenant:
        kwargs = {
            "interactive_browser_tenant_id": tenant,
            "shared_cache_tenant_id": tenant,
            "visual_studio_code_tenant_id": tenant,
            "workload_identity_tenant_id": tenant,
        }
    if client_id:
        kwargs["managed_identity_client_id"] = client_id
    return DefaultAzureCredential(**kwargs)
