"""Access lines made from templates (observability.requests.log_access).

Most requests' access lines differ from the line of the request before only
by their request id, duration and time: the same method, path, status,
operation, outcome and actor come back request after request. Made whole,
as a dict and then JSON, the line was most of the 6 % that metrics and
access lines added to a compiled mutation's instructions
(bench/metrics_instructions_bench.py); filled in from a template it costs
less than half as much.

A template is the line of one such kind of request rendered once by
orjson, with markers where the three values go, made into a bytes format:
one `%` fills it in, which costs less than joining its pieces around the
values. There are at most MAX_TEMPLATES of them (operation names and actors
vary by client): past that, lines are made whole, as they are whenever a
line carries more than the usual fields (an error, the client's request id,
a trace id: while tracing is on, there are no templates).

A templated line's time is to the millisecond, shared by the lines of that
millisecond, and its duration_ms has three decimals, trailing zeros kept
(1.250, where a line made whole has 1.25): the same number to a JSON reader.
A line made whole has the time to the microsecond, as every other JSON line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from time import time_ns
from typing import Any

from orjson import OPT_APPEND_NEWLINE, dumps

from graphql_petstore.observability import tracing

MAX_TEMPLATES = 256

# Marks where a template's values go: characters that JSON escapes, so a
# marker written by orjson cannot be mistaken for a client's text (a marker
# found more than once makes no template).
_MARKERS = ("\x00", "\x01", "\x02")
_MARKED = tuple(dumps(marker) for marker in _MARKERS)

# The line as a bytes format for (request id as JSON, duration in
# milliseconds, time as JSON), or None: this kind of line has no template.
templates: dict[Hashable, bytes | None] = {}
# What templates.get gives for a kind that has none yet (None: it has none).
NOT_MADE: Any = object()


def template(key: Hashable, line: Callable[..., dict[str, Any]], *given: Any) -> bytes | None:
    """The template for lines of kind `key`, made (once) from
    `line(*given, request_id, duration_ms, time)` with markers for the last
    three; None: lines of this kind are made whole."""
    try:
        return templates[key]
    except KeyError:
        pass
    if len(templates) >= MAX_TEMPLATES or tracing.enabled():
        return None
    try:
        form = _form(dumps(line(*given, *_MARKERS), option=OPT_APPEND_NEWLINE))
    except TypeError:  # a lone surrogate in a client's text: made whole, escaped
        form = None
    templates[key] = form
    return form


def _form(rendered: bytes) -> bytes | None:
    if any(rendered.count(marked) != 1 for marked in _MARKED):
        return None
    form = rendered.replace(b"%", b"%%")
    for marked, conversion in zip(_MARKED, _CONVERSIONS, strict=True):
        form = form.replace(marked, conversion)
    return form


# What takes each marker's place: the request id and the time come as JSON
# text, the duration as a number of milliseconds.
_CONVERSIONS = (b"%b", b"%.3f", b"%b")


def join(form: bytes, request_id: str, seconds: float) -> bytes:
    """A line from its template: the request id as orjson writes it, the
    duration in milliseconds to the microsecond, the time to the
    millisecond."""
    milliseconds = time_ns() // 1_000_000
    if milliseconds != _now[0]:
        _new_millisecond(milliseconds)
    return form % (dumps(request_id), seconds * 1000, _now[1])


# The time of the lines written in the current millisecond, which under load
# are several: a new text per line was a third of the line's cost. Kept:
# (the millisecond, its text) and (the second, '"2026-11-30T08:58:42').
_now: tuple[int, bytes] = (-1, b"")
_second: tuple[int, bytes] = (-1, b"")


def _new_millisecond(milliseconds: int) -> None:
    global _now
    _now = (milliseconds, time_text(milliseconds))


def time_text(milliseconds: int) -> bytes:
    """`milliseconds` since the epoch as orjson writes that UTC datetime
    (the fraction left out when it is 0)."""
    global _second
    second, fraction = divmod(milliseconds, 1000)
    if second != _second[0]:
        _second = (second, dumps(datetime.fromtimestamp(second, UTC))[:20])
    return _second[1] + (b'.%03d000+00:00"' % fraction if fraction else b'+00:00"')


def _forked() -> None:
    # Templates hold the process id.
    templates.clear()


os.register_at_fork(after_in_child=_forked)
