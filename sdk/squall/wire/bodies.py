"""Message bodies: the envelope JSON through the app's body codecs, and back (:class:`CodecChain`).

A body codec is a reversible transform of a message body, text in and text out (:class:`BodyCodec`). An
app's chain is the codecs of its extensions (``Extension.body_codec``), in the order the extensions are
given, then signing::

    encode:  envelope JSON -> codec 1 -> codec 2 -> ... -> signing -> the body on the wire
    decode:  the body on the wire -> signing -> ... -> codec 2 -> codec 1 -> envelope JSON

Signing is outermost, so that its MAC covers the bytes on the wire and the worker checks it before any
other codec reads a byte: a forged body never reaches a decompressor or an offload fetch. It is always in
the chain: without keys it signs nothing and, decoding, drops a signature header unchecked (a worker
rolled out before its producers' keys), as :func:`squall.wire.signing.unverified_json` does.

What a codec must do (the chain checks the first two on every encode):

* Return a JSON object's text (starting with ``{``): the signature header ends at the first ``.{``, and
  the tools that read bodies (``squall dlq``) expect an object.
* Keep EventBridge Scheduler's ``<aws.scheduler.scheduled-time>`` where a schedule's Input holds it: that
  Input is encoded once, when the schedule is made, and the Scheduler writes each firing's time into the
  codec's output. A codec that cannot (compression) returns such a text as it was.
* Decode what it did not encode as it is, unless it must be there: messages sent before the codec was
  added, and schedule Inputs it left alone, still arrive.
* Raise on a body it cannot decode: the worker dead-letters the message with a reason that names the
  codec, and its batch goes on.

Errors: a codec's failure to encode is one :class:`~squall.errors.EncodeError` naming it; its failure to
decode is one :class:`~squall.errors.DecodeError` naming it. Signing's own errors are kept as they are:
:class:`~squall.errors.SignatureError` with its reason, and ConfigurationError when the keys cannot be
read (the worker keeps the message and tries again after :data:`~squall.limits.KEYRING_RETRY_SECONDS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from squall.errors import DecodeError, EncodeError, MessageTooLarge
from squall.offload.arguments import ArgumentOffload
from squall.wire import signing

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.wire.signing import Signer

#: Longest piece of a codec's own error quoted in a reason, in characters.
_DETAIL_CHARS = 200


class BodyCodec(Protocol):
    """A reversible transform of a message body: ``decode(encode(text)) == text``."""

    #: Names the codec in errors and in dead-letter reasons.
    name: str

    def encode(self, text: str) -> str:
        """The body that carries ``text`` (a JSON object's text)."""
        ...

    def decode(self, body: str) -> str:
        """The text ``body`` carries; raise if it cannot be read."""
        ...


class SigningCodec:
    """Signing as the chain's outermost codec (see :mod:`squall.wire.signing`): it needs no place in a list."""

    name = "signing"

    def __init__(self, signer: Signer | None) -> None:
        self.signer = signer

    def encode(self, text: str) -> str:
        """``text`` signed, or as it is when the app does not sign."""
        return text if self.signer is None else self.signer.sign(text)

    def encode_template(self, template: str) -> str:
        """A recurring schedule's Input signed so that the Scheduler's substitution keeps it valid."""
        return template if self.signer is None else self.signer.sign_template(template)

    def decode(self, body: str) -> str:
        """What ``body`` carries: its signature checked when the app signs, else any header dropped unchecked."""
        return signing.unverified_json(body) if self.signer is None else self.signer.open(body)


class CodecChain:
    """Body codecs in order: :meth:`encode` applies them first to last, :meth:`decode` undoes them last to first."""

    def __init__(
        self, codecs: Iterable[BodyCodec] = (), *, signer: Signer | None = None, offload: BodyCodec | None = None
    ) -> None:
        #: The extensions' codecs, innermost first.
        self.inner: tuple[BodyCodec, ...] = tuple(codecs)
        self.signing = SigningCodec(signer)
        #: Payload offload (:mod:`squall.offload.arguments`), built in and innermost: it reads the envelope JSON.
        self.offload = offload

    @property
    def codecs(self) -> tuple[BodyCodec, ...]:
        """Every codec in encoding order: the extensions' codecs, then signing."""
        return (*self.inner, self.signing)

    @property
    def signs(self) -> bool:
        """Whether bodies are signed, and a received one must be (the app has signing keys)."""
        return self.signing.signer is not None

    def encode(self, envelope_json: str) -> str:
        """The body that carries ``envelope_json``; EncodeError names a codec that fails."""
        text = envelope_json if self.offload is None else _encoded(self.offload, envelope_json)
        for codec in self.inner:
            text = _encoded(codec, text)
        return self.signing.encode(text)

    def encode_template(self, template: str) -> str:
        """A recurring schedule's Input (holding the Scheduler's placeholder), through every codec.

        EncodeError names a codec that fails, or that loses a placeholder the Scheduler must still find.
        """
        text = template
        expected = template.count(signing.SCHEDULED_TIME)
        for codec in self.inner:
            text = _encoded(codec, text)
            if text.count(signing.SCHEDULED_TIME) != expected:
                raise EncodeError(
                    f"body codec {codec.name!r}",
                    f"changed the {signing.SCHEDULED_TIME} placeholders of a schedule's Input, which EventBridge "
                    "Scheduler fills in at each firing; keep them as they are, or return such a text unchanged",
                )
        return self.signing.encode_template(text)

    def decode(self, body: str) -> str:
        """The envelope JSON of a received body: its signature checked first, then each codec undone.

        SignatureError and ConfigurationError come from signing, as they always have; DecodeError names any
        other codec that cannot read the body.
        """
        return self._undo(self.signing.decode(body))

    def peek(self, body: str) -> str:
        """The envelope JSON of a body WITHOUT checking its signature (tools: ``squall dlq``, schedules read back)."""
        return self._undo(signing.unverified_payload(body))

    def _undo(self, text: str) -> str:
        for codec in reversed(self.inner):
            text = _decoded(codec, text)
        # A recurring schedule's Input is never offloaded (encode_template skips it), so undoing it is harmless.
        # An AWS error reading the payload bucket passes as it is: the record fails and is delivered again.
        return text if self.offload is None else _decoded(self.offload, text, passing=(ClientError, BotoCoreError))


def _encoded(codec: BodyCodec, text: str) -> str:
    out = _run(codec.encode, text, lambda detail: EncodeError(f"body codec {codec.name!r}", f"cannot encode: {detail}"))
    if not out.startswith("{"):
        raise EncodeError(
            f"body codec {codec.name!r}",
            f"wrote a body starting {out[:20]!r}; a codec writes a JSON object's text (it starts with '{{')",
        )
    return out


def _decoded(codec: BodyCodec, body: str, *, passing: tuple[type[Exception], ...] = ()) -> str:
    return _run(
        codec.decode,
        body,
        lambda detail: DecodeError(f"body codec {codec.name!r} cannot decode: {detail}"),
        passing=passing,
    )


def _run(
    step: Callable[[str], str],
    text: str,
    failure: Callable[[str], Exception],
    *,
    passing: tuple[type[Exception], ...] = (),
) -> str:
    """``step(text)``; whatever it raises (but ``passing``), or a result that is not text, becomes ``failure``."""
    try:
        out = step(text)
    except MessageTooLarge:
        raise  # a size limit names the task and the limit itself
    except passing:
        raise
    except DecodeError as exc:
        error = failure(exc.reason[:_DETAIL_CHARS])
        if isinstance(error, DecodeError) and error.task_id is None:
            error.task_id = exc.task_id  # so that DEAD can be recorded for the task the codec read
        raise error from exc
    except Exception as exc:  # a codec is extension code: its failure becomes the chain's one error, never escapes
        raise failure(f"{type(exc).__name__}: {str(exc)[:_DETAIL_CHARS]}") from exc
    if not isinstance(out, str):
        raise failure(f"it returned a {type(out).__name__}, not text")
    return out


def codecs_of(app: App) -> tuple[BodyCodec, ...]:
    """The body codecs of ``app``'s extensions, in the order the extensions are given."""
    return tuple(extension.body_codec for extension in app.extensions if extension.body_codec is not None)


def chain_for(app: App) -> CodecChain:
    """``app``'s chain: payload offload, its extensions' codecs, then its signer. Built afresh each time (cheap):
    they may change."""
    return CodecChain(codecs_of(app), signer=app.signer, offload=ArgumentOffload(app))
