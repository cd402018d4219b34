"""Who is calling: HTTP Basic (Track: site_id:api_key; Pipelines: write_key:) or Bearer keys."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from relata.core.errors import Unauthorized
from relata.core.model import Workspace
from relata.services.container import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _credentials(request: Request) -> tuple[str, str, str]:
    """(scheme, user, password) from the Authorization header; Bearer puts the token in ``user``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return "bearer", value.strip(), ""
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        user, _, password = decoded.partition(":")
        return "basic", user, password
    raise Unauthorized("missing credentials")


def track_workspace(request: Request) -> Workspace:
    """Track API: HTTP Basic with the site id as user and the Track API key as password."""
    scheme, user, password = _credentials(request)
    if scheme != "basic":
        raise Unauthorized("the Track API takes HTTP Basic site_id:api_key")
    return services(request).workspaces.authenticate("track", password, site_id=user)


def pipelines_workspace(request: Request) -> Workspace:
    """Pipelines API: HTTP Basic ``write_key:`` (empty password) or ``Bearer write_key``."""
    _scheme, user, _password = _credentials(request)
    return services(request).workspaces.authenticate("pipelines", user)


def app_workspace(request: Request) -> Workspace:
    """App API: ``Authorization: Bearer <app api key>``."""
    scheme, user, _password = _credentials(request)
    if scheme != "bearer":
        raise Unauthorized("the App API takes Authorization: Bearer <app api key>")
    return services(request).workspaces.authenticate("app", user)
