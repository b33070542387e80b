"""Who may use the app: the loopback default, a login for the page and a bearer token for the REST API.

The app binds 127.0.0.1 unless told otherwise. On any other address it starts only with a login
for the page (``FOLIO_AUTH=user:password`` or ``--auth``) and a bearer token for the REST API
(``FOLIO_API_TOKEN``); either can also be set on loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    """Who may use the app: a login for the page and a bearer token for the REST API (None: open)."""

    auth: tuple[str, str] | None = None
    api_token: str | None = None


def parse_auth(value: str) -> tuple[str, str]:
    user, colon, password = value.partition(":")
    if not (user and colon and password):
        raise ValueError("the page's login must look like USER:PASSWORD (--auth or FOLIO_AUTH)")
    return user, password


def access_from(auth: str | None, environ: Mapping[str, str]) -> Access:
    """``auth`` (--auth) or FOLIO_AUTH for the page, FOLIO_API_TOKEN for the REST API; ValueError when malformed."""
    login = auth or environ.get("FOLIO_AUTH") or None
    return Access(auth=parse_auth(login) if login else None, api_token=environ.get("FOLIO_API_TOKEN") or None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_problem(host: str, access: Access) -> str:
    """Why the app must not start on ``host`` with this access (empty when it may)."""
    missing = [
        *([] if access.auth else ["FOLIO_AUTH=user:password (or --auth) for the page"]),
        *([] if access.api_token else ["FOLIO_API_TOKEN=<a long random string> for the REST API"]),
    ]
    if is_loopback(host) or not missing:
        return ""
    return (
        f"refusing to serve on {host}: it is not a loopback address, so other machines could reach the app. "
        f"Set {' and '.join(missing)}, or bind 127.0.0.1 (the default)."
    )
