"""JSON lines that wait to be written together (logs.write_json_object).

A JSON line written past the text layer waits in its stream's bytes buffer,
for FLUSH_DELAY seconds at most, for the lines after it: one write(2) for
all of them, not one per request. Any line logged the usual way (an ERROR's
at once) flushes the same buffer first, so the order stays; so do stopping
(lifespan shutdown, exit) and fork. A stream without a bytes buffer (stderr
when Python runs unbuffered) gets one of ours, PendingLines, which
logs.JsonLines flushes before it formats a line. For as long as lines wait,
the handler that was approved for them is trusted without checking again: a
handler added or changed meanwhile gets the lines from the next flush on.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
from typing import Any

FLUSH_DELAY = 0.02

# (logger, level, the bytes layer its lines wait in) while they wait; set
# by logs.write_json_object.
waiting: tuple[logging.Logger, int, Any] | None = None


def flush_lines() -> None:
    """Writes the JSON lines that wait."""
    global waiting
    lines, waiting = waiting, None
    if lines is not None:
        with contextlib.suppress(OSError, ValueError):  # a closed stream
            lines[2].flush()


class PendingLines:
    """The bytes buffer that stderr lacks when Python runs unbuffered
    (PYTHONUNBUFFERED=1, as container images often set, or `python -u`):
    its text layer then writes through to the raw file, and a line written
    there would cost a write(2) per request. The lines wait here instead,
    as in a BufferedWriter.

    A line is added by the bytearray's own extend, not by a method of ours,
    whose call cost three times what the extend does (callgrind). So
    nothing counts the bytes as they come: what waits is what came in one
    FLUSH_DELAY (a few hundred kilobytes at the most a worker serves), or,
    on a non-blocking stream whose reader stalls, what it has not taken
    yet."""

    __slots__ = ("data", "raw", "write")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.data = bytearray()
        self.write = self.data.extend

    def flush(self) -> None:
        # A copy, not a view: a view that outlived a failed write (in its
        # traceback) would forbid the bytearray to shrink. One per flush.
        data = self.data
        try:
            while data:
                written = self.raw.write(bytes(data))
                if not written:  # None: a non-blocking stream is full; the rest waits
                    return
                del data[:written]
        except BaseException:
            data.clear()  # a stream that fails (closed) is not tried again with the same lines
            raise


# One per raw stream, kept across approvals, so that the lines that wait
# stay in one place and in order.
_pending: PendingLines | None = None


def bytes_layer(stream: Any) -> Any:
    """Where a stream's UTF-8 lines can be written past its text layer: its
    bytes buffer, or a PendingLines in front of its raw file; None: only
    through the text layer."""
    global _pending
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    binary = getattr(stream, "buffer", None) if encoding == "utf8" else None
    if not isinstance(binary, io.RawIOBase):
        return binary
    if _pending is None or _pending.raw is not binary:
        flush_lines()
        _pending = PendingLines(binary)
    return _pending


def _forked() -> None:
    global waiting
    waiting = None


# A child would write the lines that wait a second time.
os.register_at_fork(before=flush_lines, after_in_child=_forked)
atexit.register(flush_lines)
