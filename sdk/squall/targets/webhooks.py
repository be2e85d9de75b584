"""Standard Webhooks signing (https://www.standardwebhooks.com/) of HTTP-target requests.

Each request carries ``webhook-id`` (the task id: the same on every retry, the receiver's dedup key),
``webhook-timestamp`` (integer seconds from Squall's clock) and ``webhook-signature``: ``v1,<base64 of
HMAC-SHA256 over "{id}.{timestamp}.{body}">``, keyed by the base64-decoded part of a ``whsec_...`` secret. With
several secrets (rotation) each signs and the header holds their signatures separated by spaces, as the
specification allows; a receiver accepts the request if any one matches a secret it knows.

The secrets are given to ``Squall(..., webhook_secret=...)``: one ``whsec_...`` string, a list of them, or a
reference ``ssm:<parameter>`` / ``secretsmanager:<secret>`` whose value holds one or more ``whsec_...``
secrets separated by whitespace, read lazily through Powertools Parameters (as envelope signing keys are,
:mod:`squall.wire.signing`) and cached for :data:`squall.wire.signing.KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from squall import config
from squall.errors import ConfigurationError
from squall.wire import signing

PREFIX = "whsec_"
#: Shortest secret accepted, in bytes (the spec asks for 24 to 64; Squall's own are 32).
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def new_secret() -> str:
    """A fresh random ``whsec_...`` secret (32 bytes), to give both Squall and the receiver."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def decode_secret(secret: str) -> bytes:
    """The key of a ``whsec_...`` secret; ConfigurationError says what is wrong (never echoing the secret)."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ConfigurationError(
            "a webhook secret must be 'whsec_<base64>' (make one with squall.new_webhook_secret())"
        )
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("a webhook secret's part after 'whsec_' is not base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ConfigurationError(
            f"a webhook secret holds {len(key)} bytes; use {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} "
            "(squall.new_webhook_secret() makes one)"
        )
    return key


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<sig>`` for each key, separated by spaces."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers (only ``webhook-id`` and ``webhook-timestamp`` without keys)."""
    out = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if keys:
        out["webhook-signature"] = signature_header(keys, msg_id, timestamp, body)
    return out


class WebhookKeys:
    """The app's webhook signing keys, resolved on first use; an empty list when signing is off."""

    def __init__(self, secret: str | Sequence[str] | None, client: Callable[[str], Any]) -> None:
        self._reference: str | None = None
        self._keys: list[bytes] = []
        if secret is None:
            secret = config.webhook_secret_from_env()  # on the worker the stack sets the app's reference
            if secret is not None and secret.startswith(PREFIX):
                raise ConfigurationError(
                    f"{config.ENV_WEBHOOK_SECRET} must be an 'ssm:<parameter>' or 'secretsmanager:<secret>' "
                    "reference, never the secret itself (environment variables are readable by anyone who reads "
                    "the function's configuration)"
                )
        if isinstance(secret, str) and not secret.startswith(PREFIX):
            signing.parse_reference(secret)  # ConfigurationError now for a malformed reference
            self._reference = secret
        elif secret is not None:
            self._keys = [decode_secret(s) for s in ([secret] if isinstance(secret, str) else secret)]
            if not self._keys:
                raise ConfigurationError("webhook_secret is an empty list; give one or more 'whsec_...' secrets")
        self._client = client
        self._provider: Any = None

    @property
    def reference(self) -> str | None:
        """The ``ssm:`` / ``secretsmanager:`` reference the keys are read from, if any."""
        return self._reference

    def __call__(self) -> list[bytes]:
        """The keys to sign with (read through the Powertools cache when given by reference)."""
        if self._reference is None:
            return self._keys
        return [decode_secret(s) for s in self._read(self._reference).split()]

    def _read(self, reference: str) -> str:
        service, name = signing.parse_reference(reference)
        try:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
            from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        except ImportError as exc:
            raise ConfigurationError(
                f"webhook signing ({reference}) reads its secret with aws-lambda-powertools: "
                "pip install 'squall[worker]'"
            ) from exc
        if self._provider is None:
            client = self._client(service)
            self._provider = (
                SSMProvider(boto3_client=client) if service == "ssm" else SecretsProvider(boto3_client=client)
            )
        options = {"decrypt": True} if service == "ssm" else {}
        try:
            value = self._provider.get(name, max_age=signing.KEY_CACHE_SECONDS, **options)
        except GetParameterError as exc:
            raise ConfigurationError(f"cannot read the webhook secret {reference}: {exc}") from exc
        if not isinstance(value, str) or not value.split():
            raise ConfigurationError(f"the webhook secret {reference} is empty; store one or more 'whsec_...' secrets")
        return value
