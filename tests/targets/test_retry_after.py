"""Reading ``Retry-After``: delta-seconds and every HTTP-date form (RFC 9110 5.6.7), capped; the rest ignored."""

from __future__ import annotations

import email.utils
import time

import pytest
from http_receiver import Receiver, Reply

from squall import Squall, State
from squall.limits import HTTP_TARGET_MAX_RETRY_AFTER_SECONDS
from squall.local import Runtime
from squall.targets.delivery import retry_after

#: 1994-11-06 08:49:37 GMT, RFC 9110's example instant, in its three HTTP-date forms.
INSTANT = 784111777.0
HTTP_DATES = ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"]


@pytest.mark.parametrize("value", HTTP_DATES)
def test_every_http_date_form_is_read_as_gmt(value: str) -> None:
    assert retry_after(value, now=INSTANT - 90) == pytest.approx(90)


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 45 ", 45.0), ("0", 0.0)])
def test_delta_seconds_are_the_wait(value: str, seconds: float) -> None:
    assert retry_after(value, now=INSTANT) == seconds


def test_a_date_already_past_means_now() -> None:
    assert retry_after(HTTP_DATES[0], now=INSTANT + 3600) == 0.0


@pytest.mark.parametrize("value", [str(10**30), email.utils.formatdate(INSTANT + 10 * 86400, usegmt=True)])
def test_a_wait_past_the_cap_is_cut_to_it(value: str) -> None:
    assert retry_after(value, now=INSTANT) == HTTP_TARGET_MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("value", [None, "", "-5", "1.5", "soon", "Sun, 99 Nov 1994 08:49:37 GMT", "\u0661\u0662"])
def test_a_value_that_is_neither_is_ignored(value: str | None) -> None:
    assert retry_after(value, now=INSTANT) is None


def test_an_asctime_retry_after_is_the_next_delay_on_the_fake_clock(
    app: Squall, rt: Runtime, receiver: Receiver
) -> None:
    rt.advance(hours=30)  # the fake clock, not the wall clock, is what the date is measured against
    at = time.gmtime(rt.clock.now() + 600)
    when = time.strftime(f"%a %b {at.tm_mday:>2} %H:%M:%S %Y", at)  # asctime: "Sun Nov  6 08:49:37 1994"
    receiver.answer(Reply(429, {"Retry-After": when}), Reply(200))

    result = app.send_http(receiver.url(), {})
    rt.poll()

    assert result.state is State.RETRY
    assert rt.next_wakeup() == pytest.approx(rt.clock.now() + 600, abs=1.5)
