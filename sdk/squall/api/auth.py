"""Bearer tokens for the REST API: where they come from, and the constant-time check of a request's header.

On AWS the tokens live in a Secrets Manager secret the stack creates (its name in ``SQUALL_API_TOKEN_SECRET``),
read through Powertools parameters with a cache, so a rotated secret is picked up within ``SECRET_MAX_AGE_SECONDS``
without a deploy. The secret holds one token, or a JSON list of tokens (several are valid at once while clients
move to a new one). Locally ``squall dev`` makes a random token and prints it.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Sequence

from aws_lambda_powertools.utilities import parameters

#: Seconds a token read from Secrets Manager is cached in the function before it is read again.
SECRET_MAX_AGE_SECONDS = 300
#: Bytes of randomness in a token made by :func:`new_token` (256 bits, URL-safe base64 text).
TOKEN_BYTES = 32
#: Shortest token accepted, in characters: a guessable token is refused when the API starts, not used.
MIN_TOKEN_CHARS = 16

#: Returns the tokens valid now (called per request; a source caches as it sees fit).
TokenSource = Callable[[], Sequence[str]]


def new_token() -> str:
    """A fresh random token (what ``squall dev`` prints)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def check_token(token: str) -> str:
    """``token`` if it is long enough to be a secret; ValueError saying what to do otherwise."""
    if len(token) < MIN_TOKEN_CHARS or token != token.strip():
        raise ValueError(
            f"an API token has at least {MIN_TOKEN_CHARS} characters and no surrounding spaces; "
            "make one with squall.api.new_token()"
        )
    return token


def static_tokens(*tokens: str) -> TokenSource:
    """A source of fixed tokens (the dev server's, or a test's)."""
    if not tokens:
        raise ValueError("give at least one token")
    fixed = tuple(check_token(token) for token in tokens)
    return lambda: fixed


def parse_secret(value: str | bytes | dict[str, object] | None) -> tuple[str, ...]:
    """The tokens a secret's value holds: one token, or a JSON list of tokens."""
    if value is None:
        return ()
    text = value.decode() if isinstance(value, bytes) else value
    if isinstance(text, dict):
        return ()
    text = text.strip()
    if text.startswith("["):
        listed = json.loads(text)
        return tuple(check_token(t) for t in listed if isinstance(t, str))
    return (check_token(text),)


def secret_tokens(secret_name: str) -> TokenSource:
    """A source reading ``secret_name`` from Secrets Manager through Powertools parameters, cached."""

    def read() -> tuple[str, ...]:
        return parse_secret(parameters.get_secret(secret_name, max_age=SECRET_MAX_AGE_SECONDS))

    return read


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorized(header: str | None, tokens: Sequence[str]) -> bool:
    """Whether ``header`` carries one of ``tokens``; every token is compared, each in constant time."""
    given = bearer(header)
    if given is None:
        return False
    offered = given.encode()
    matched = False
    for token in tokens:
        # No early exit: the time taken does not say which token (or how much of one) matched.
        matched |= hmac.compare_digest(offered, token.encode())
    return matched
