"""Who may use the app: the loopback default, a login for the page and a bearer token for the REST API.

The app binds 127.0.0.1 unless told otherwise. On any other address it starts only with a login
for the page (``FOLIO_AUTH=user:password`` or ``--auth``) and a bearer token for the REST API
(``FOLIO_API_TOKEN``); either can also be set on loopback.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

# What a secret must have on a public host: its length, and its strength estimated from its own
# character statistics (length × Shannon entropy per character). secrets.token_urlsafe(32) gives
# 43 characters and about 200 bits; 32 random hex digits about 110; " ", "x" or "aaaa…" nearly 0.
TOKEN_RULE = (32, 96.0)  # (characters, estimated bits) for FOLIO_API_TOKEN
PASSWORD_RULE = (16, 56.0)  # for the page's login password


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


def estimated_bits(secret: str) -> float:
    """A secret's strength as its length times the Shannon entropy of its characters (0 for one repeated)."""
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values()) if secret else 0.0


def weakness(secret: str, rule: tuple[int, float]) -> str:
    """Why ``secret`` is too weak for a public host (empty when it is strong enough)."""
    characters, bits = rule
    if len(secret.strip()) < characters:
        return f"has {len(secret.strip())} characters, fewer than {characters}"
    if estimated_bits(secret) < bits:
        return f"is too predictable (about {estimated_bits(secret):.0f} bits, fewer than {bits:.0f})"
    return ""


def exposure_problem(host: str, access: Access) -> str:
    """Why the app must not start on ``host`` with this access (empty when it may)."""
    if is_loopback(host):
        return ""
    missing = [
        *([] if access.auth else ["FOLIO_AUTH=user:password (or --auth) for the page"]),
        *([] if access.api_token else ["FOLIO_API_TOKEN=<a long random string> for the REST API"]),
    ]
    if missing:
        return (
            f"refusing to serve on {host}: it is not a loopback address, so other machines could reach the app. "
            f"Set {' and '.join(missing)}, or bind 127.0.0.1 (the default)."
        )
    weak = [
        *([f"FOLIO_API_TOKEN {why}"] if (why := weakness(access.api_token or "", TOKEN_RULE)) else []),
        *([f"the login's password {why}"] if access.auth and (why := weakness(access.auth[1], PASSWORD_RULE)) else []),
    ]
    if weak:
        return (
            f"refusing to serve on {host} with weak credentials: {'; '.join(weak)}. "
            f"Use random ones, e.g. FOLIO_API_TOKEN={secrets.token_urlsafe(32)} "
            f"(python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    return ""
