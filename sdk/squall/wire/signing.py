"""Envelope integrity: optional HMAC-SHA256 signing of message bodies (off unless configured).

Wire format ``sq1`` (all ASCII before the JSON)::

    sq1.<key id>.<mac>.<slot>.<envelope JSON>

* ``<key id>``: which key signed it, 1-32 of ``[A-Za-z0-9_-]`` (rotation: the worker accepts every key of
  its keyring; producers sign with the current one).
* ``<mac>``: base64url (no padding) of HMAC-SHA256 over the body with the MAC itself left out and the slot
  replaced by ``@`` when it is set: ``sq1.<key id>.<@ or nothing>.<envelope JSON>`` (UTF-8).
* ``<slot>``: empty, or the firing time of a schedule: a recurring schedule's Input holds the literal
  ``<aws.scheduler.scheduled-time>`` here, which EventBridge Scheduler replaces at each firing. Inside the
  JSON that placeholder is written ``\\u003caws.scheduler.scheduled-time\\u003e`` (a JSON escape the
  Scheduler leaves alone), so the signed part never changes; after checking the MAC the worker writes the
  slot's time there. The MAC covers *that* a time is substituted, not *which*: whoever can send to the
  queue can replay a signed schedule with another time (another firing of the same task and arguments).
* Periodic schedules declared in code (``@app.periodic``) are created by the stack at deploy time, when no
  key is at hand: they stay unsigned, and the worker accepts an unsigned body only if it is exactly one of
  its app's declared periodic Inputs with one Scheduler time filled in.

``<envelope JSON>`` is the envelope's JSON text, or what the app's other body codecs made of it (always a
JSON object): signing is the outermost codec of :mod:`squall.wire.bodies`, so the MAC covers every byte
that travels after its header. The worker checks the signature before anything but the header is decoded;
an unsigned, malformed, unknown-key or altered message is dead-lettered with the reason and no task state is
written for it (its task id is unverified). Keys: a JSON document ``{"current": "<id>", "keys": {"<id>":
"<base64, >= 32 bytes>", ...}}`` in SSM Parameter Store (SecureString) or Secrets Manager, read through
Powertools Parameters and cached for :data:`KEY_CACHE_SECONDS`. See docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall import config, limits
from squall.errors import ConfigurationError, SignatureError

if TYPE_CHECKING:
    from squall.protocols import App

VERSION = "sq1"
#: The context attribute EventBridge Scheduler replaces in a schedule's Input at each firing.
SCHEDULED_TIME = limits.SCHEDULER_TIME_PLACEHOLDER
#: How the placeholder is written inside signed JSON, so that the Scheduler does not replace it there.
ESCAPED_SCHEDULED_TIME = "\\u003caws.scheduler.scheduled-time\\u003e"
#: Seconds a keyring read from SSM or Secrets Manager is reused before it is read again.
KEY_CACHE_SECONDS = 300
#: Shortest key accepted, in bytes (the HMAC-SHA256 output size, as RFC 2104 advises).
MIN_KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TIME = re.compile(limits.SCHEDULER_TIME_PATTERN)
#: A signed body; the slot ends at the first ".{" (a slot never holds "{", the JSON object starts with it).
_SIGNED = re.compile(
    r"sq1\.(?P<kid>[A-Za-z0-9_-]{1,32})\.(?P<mac>[A-Za-z0-9_-]{43})\.(?P<slot>[^{]*?)\.(?P<json>\{.*)", re.DOTALL
)


@dataclass(frozen=True)
class Keyring:
    """Signing keys by id: ``current`` signs, every key in ``keys`` verifies (current and previous)."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(f"signing key id {key_id!r}: use 1-32 letters, digits, '_' or '-'")
            if len(key) < MIN_KEY_BYTES:
                raise ConfigurationError(f"signing key {key_id!r} has {len(key)} bytes; use at least {MIN_KEY_BYTES}")
        if self.current not in self.keys:
            raise ConfigurationError(f"the current signing key {self.current!r} is not among the keys given")

    @classmethod
    def from_document(cls, doc: object, *, source: str) -> Keyring:
        """Read ``{"current": id, "keys": {id: base64 secret}}``; ConfigurationError names what is wrong."""
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("keys"), dict)
            or not isinstance(doc.get("current"), str)
        ):
            raise ConfigurationError(
                f'signing keys in {source} must be JSON {{"current": "<key id>", "keys": {{"<key id>": '
                '"<base64 secret>"}}}}; make one with squall.wire.signing.new_keyring_document()'
            )
        keys = {}
        for key_id, text in doc["keys"].items():
            try:
                keys[str(key_id)] = base64.b64decode(str(text).replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(f"signing key {key_id!r} in {source} is not base64") from None
        return cls(doc["current"], keys)


def new_keyring_document(key_id: str = "k1", previous: str | None = None) -> str:
    """A keyring document with a fresh random key ``key_id`` as current (and ``previous`` keys kept).

    ``previous`` is an existing document: its keys stay valid for verifying, which is how keys rotate.
    """
    keys = dict(json.loads(previous)["keys"]) if previous else {}
    keys[key_id] = base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode()
    return json.dumps({"current": key_id, "keys": keys})


class KeySource:
    """Reads a keyring named ``ssm:<parameter>`` or ``secretsmanager:<secret>`` through Powertools Parameters."""

    def __init__(self, reference: str, client: Callable[[str], Any], *, max_age: int | None = None) -> None:
        self.service, self.name = parse_reference(reference)
        self.reference, self._client = reference, client
        self.max_age = KEY_CACHE_SECONDS if max_age is None else max_age
        self._provider: Any = None

    def __call__(self) -> Keyring:
        """The keyring, from Powertools' cache when read less than ``max_age`` seconds ago."""
        try:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
            from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
        except ImportError as exc:
            raise ConfigurationError(
                f"envelope signing ({self.reference}) reads its keys with aws-lambda-powertools: "
                "pip install 'squall[worker]'"
            ) from exc
        if self._provider is None:
            client = self._client(self.service)
            self._provider = (
                SSMProvider(boto3_client=client) if self.service == "ssm" else SecretsProvider(boto3_client=client)
            )
        options = {"decrypt": True} if self.service == "ssm" else {}
        try:
            doc = self._provider.get(self.name, max_age=self.max_age, transform="json", **options)
        except TransformParameterError as exc:
            raise ConfigurationError(f"signing keys in {self.reference} are not JSON: {exc}") from exc
        except GetParameterError as exc:
            raise ConfigurationError(f"cannot read the signing keys {self.reference}: {exc}") from exc
        return Keyring.from_document(doc, source=self.reference)


def parse_reference(reference: str) -> tuple[str, str]:
    """(service, name) of ``ssm:<name>``, ``secretsmanager:<name>`` or an SSM parameter / secret ARN."""
    if reference.startswith("arn:"):
        service = reference.split(":")[2] if reference.count(":") >= 5 else ""
        name = reference
    else:
        service, _, name = reference.partition(":")
    if service not in ("ssm", "secretsmanager") or not name:
        raise ConfigurationError(
            f"{config.ENV_SIGNING}={reference!r}: name the keys as 'ssm:<parameter name>' or "
            "'secretsmanager:<secret name>' (or give the parameter's or secret's ARN)",
            missing=[config.ENV_SIGNING],
        )
    return service, name


def source_for(app: App, explicit: str | Keyring | None) -> Callable[[], Keyring] | None:
    """Where ``app`` gets its keys: ``explicit`` (a Keyring or a reference), else the environment, else off."""
    if isinstance(explicit, Keyring):
        return lambda: explicit
    reference = explicit or config.signing_parameter_from_env()
    if reference is None:
        return None
    return KeySource(reference, app.client)


# --- signing and checking -----------------------------------------------------------------------------------


def _mac(key: bytes, key_id: str, templated: bool, json_text: str) -> str:
    signed = f"{VERSION}.{key_id}.{'@' if templated else ''}.{json_text}".encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode().rstrip("=")


def sign(keyring: Keyring, json_text: str) -> str:
    """The signed body of an envelope (its JSON text)."""
    key_id = keyring.current
    return f"{VERSION}.{key_id}.{_mac(keyring.keys[key_id], key_id, False, json_text)}..{json_text}"


def sign_template(keyring: Keyring, template: str) -> str:
    """The signed Input of a recurring schedule whose JSON holds ``<aws.scheduler.scheduled-time>``."""
    json_text = template.replace(SCHEDULED_TIME, ESCAPED_SCHEDULED_TIME)
    key_id = keyring.current
    return f"{VERSION}.{key_id}.{_mac(keyring.keys[key_id], key_id, True, json_text)}.{SCHEDULED_TIME}.{json_text}"


def verify(keyring: Keyring, body: str) -> str:
    """The envelope JSON of a signed body (a schedule's time filled in); SignatureError says what is wrong."""
    match = _SIGNED.fullmatch(body)
    if match is None:
        if body.startswith(f"{VERSION}."):
            raise SignatureError("signature header is malformed")
        raise SignatureError("unsigned message: this worker requires signed envelopes")
    key_id, slot, json_text = match["kid"], match["slot"], match["json"]
    if slot and not _TIME.fullmatch(slot):
        raise SignatureError(f"schedule time {slot[:40]!r} is not a time EventBridge Scheduler writes")
    key = keyring.keys.get(key_id)
    if key is None:
        raise SignatureError(f"signed with unknown key {key_id!r} (known: {', '.join(sorted(keyring.keys))})")
    if not hmac.compare_digest(_mac(key, key_id, bool(slot), json_text), match["mac"]):
        raise SignatureError(f"signature does not match: altered, or signed with another key {key_id!r}")
    return _fill(slot, json_text)


def unverified_json(body: str) -> str:
    """The envelope JSON of a body, signed or not, WITHOUT checking the signature (tools and unsigned workers)."""
    match = _SIGNED.fullmatch(body)
    return body if match is None else _fill(match["slot"], match["json"])


def unverified_payload(body: str) -> str:
    """What a body carries under its header, unchecked: a template's placeholders as they were before signing.

    :func:`unverified_json` leaves a template's placeholders escaped (the same JSON); this gives back the exact
    text :func:`sign_template` was given, for a body codec that must undo its own encoding of it.
    """
    match = _SIGNED.fullmatch(body)
    if match is not None and match["slot"] == SCHEDULED_TIME:
        return match["json"].replace(ESCAPED_SCHEDULED_TIME, SCHEDULED_TIME)
    return unverified_json(body)


def _fill(slot: str, json_text: str) -> str:
    if not slot:
        return json_text
    if not _TIME.fullmatch(slot):  # e.g. the placeholder itself: a template read back, not a firing
        return json_text
    return json_text.replace(ESCAPED_SCHEDULED_TIME, slot)


class Signer:
    """Signs what an app sends and opens what its worker receives, with the app's keyring."""

    def __init__(self, keys: Callable[[], Keyring], declared: Callable[[], list[str]] = list) -> None:
        self._keys = keys
        self._declared = declared
        self._patterns: list[re.Pattern[str]] | None = None

    def sign(self, json_text: str) -> str:
        """A signed body for envelope JSON ``json_text``."""
        return sign(self._keys(), json_text)

    def sign_template(self, template: str) -> str:
        """A signed schedule Input (see the module docstring)."""
        return sign_template(self._keys(), template)

    def open(self, body: str) -> str:
        """The verified envelope JSON of ``body``; an unsigned body only if it is a declared periodic firing."""
        if not body.startswith(f"{VERSION}.") and any(p.fullmatch(body) for p in self._declared_patterns()):
            return body  # a periodic schedule declared in code, the Scheduler's time filled in
        return verify(self._keys(), body)

    def _declared_patterns(self) -> list[re.Pattern[str]]:
        if self._patterns is None:
            self._patterns = [_template_pattern(text) for text in self._declared()]
        return self._patterns


def _template_pattern(template: str) -> re.Pattern[str]:
    """Matches ``template`` with one and the same Scheduler time in place of each placeholder."""
    parts = [re.escape(part) for part in template.split(SCHEDULED_TIME)]
    time = f"(?P<t>{_TIME.pattern})"
    return re.compile(parts[0] + "".join((time if i == 0 else "(?P=t)") + p for i, p in enumerate(parts[1:])))


def signer_for(app: App, explicit: str | Keyring | None, declared: Callable[[], list[str]]) -> Signer | None:
    """The app's signer, or None when signing is off (no ``signing_key`` and no ``SQUALL_SIGNING_PARAMETER``).

    ``declared`` gives the inputs of the app's periodic schedules, which the stack signs at deploy time.
    """
    keys = source_for(app, explicit)
    return None if keys is None else Signer(keys, declared)
