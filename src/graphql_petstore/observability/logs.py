"""Logging set-up: human text on a terminal, JSON lines elsewhere
(PETSTORE_LOG_FORMAT), alike for the command, uvicorn and every worker.

Fields given with `extra=` become keys of the JSON object, or `key=value`
pairs after a text line. A line whose fields come as one dict,
`extra={"_fields": {...}}` (the access line, once per request), skips the
search through the record's attributes. Every line
logged while a request is served carries its request id (and trace id, with
tracing on), so an ERROR's traceback can be found from what the client was
told.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from graphql_petstore.observability import line_batches, tracing
from graphql_petstore.observability.current import current_request
from graphql_petstore.observability.line_batches import bytes_layer, flush_lines

# Query texts and error messages in logs are cut to this many characters: a
# client decides how long they are.
MAX_LOGGED_TEXT = 200
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# uvicorn repeats its message with terminal colours in `color_message`.
_NOT_FIELDS = frozenset(RESERVED_ATTRS) | {"message", "asctime", "color_message"}


def resolve_format(log_format: str, stream: TextIO | None = None) -> str:
    """ "text" or "json": "auto" is text on a terminal, JSON lines otherwise."""
    if log_format != "auto":
        return log_format
    stream = sys.stderr if stream is None else stream
    return "text" if stream.isatty() else "json"


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig dictionary; uvicorn applies it in each worker."""
    formatter = "json" if resolve_format(log_format) == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.RequestContext"}},
        "formatters": {
            "text": {"()": f"{__name__}.TextFormatter", "fmt": TEXT_FORMAT},
            "json": {"()": f"{__name__}.json_formatter"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own handlers would print its lines in its own format.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Replaced by graphql_petstore.access (observability.requests).
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def configure(log_format: str, level: str) -> None:
    logging.config.dictConfig(logging_config(log_format, level))


def cut(text: str, limit: int = MAX_LOGGED_TEXT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class RequestContext(logging.Filter):
    """Adds the request id (and trace id) of the request being served, when
    the line does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "_fields" in record.__dict__:
            return True  # brings its own
        request = current_request()
        if request is not None and not hasattr(record, "request_id"):
            record.request_id = request.request_id
        if tracing.enabled() and not hasattr(record, "trace_id"):
            trace_id = tracing.current_trace_id()
            if trace_id is not None:
                record.trace_id = trace_id
        return True


def fields_of(record: logging.LogRecord) -> Mapping[str, Any]:
    given: Mapping[str, Any] | None = record.__dict__.get("_fields")
    if given is not None:
        return given
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _NOT_FIELDS and not key.startswith("_")
    }


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = fields_of(record)
        if not fields:
            return line
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # the traceback stays below
        return f"{head} {pairs}{newline}{rest}"


def _text_value(value: object) -> str:
    text = "-" if value is None else str(value)
    return repr(text) if not text or any(c.isspace() or c in "\"'=" for c in text) else text


class JsonLines(JsonFormatter):
    """python-json-logger's formatter; a line that brings its fields as one
    dict (`_fields`: the access line, once per request) is serialised
    directly, with orjson."""

    def format(self, record: logging.LogRecord) -> str:
        waiting = line_batches.waiting
        if waiting is not None and isinstance(waiting[2], line_batches.PendingLines):
            # Lines that wait in a PendingLines would come after this one,
            # which the text layer writes straight through. Lines that wait
            # in a real BufferedWriter stay ahead of it there: the handler's
            # flush writes both at once.
            flush_lines()
        given: Mapping[str, Any] | None = record.__dict__.get("_fields")
        if given is None:
            return super().format(record)
        line = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            **given,
            "time": datetime.fromtimestamp(record.created, tz=UTC),
        }
        return _dumps(line).decode()


# The keys that JsonLines puts before a line's fields; "time" comes last.
ACCESS_HEAD = ("level", "logger", "message", "pid")


def write_json_line(
    logger: logging.Logger, level: int, message: str, fields: Mapping[str, Any]
) -> bool:
    """Writes the line that JsonLines would make straight to its handler's
    stream, when that handler (a StreamHandler formatting JSON lines, as
    configure() sets up) is the only one on the logger's way (see
    write_json_object). False: nothing written; log it the usual way."""
    line = {
        "level": _LEVEL_NAMES.get(level) or logging.getLevelName(level),
        "logger": logger.name,
        "message": message,
        "pid": 0,
        **fields,
    }
    return write_json_object(logger, level, line)


def write_json_object(logger: logging.Logger, level: int, line: dict[str, Any]) -> bool:
    """Writes `line` (ACCESS_HEAD's keys first, then the fields; "pid" and
    "time" are set here) as JsonLines would, straight to the stream of the
    logger's handler, when that handler (a StreamHandler formatting JSON
    lines, as configure() sets up) is the only one on the logger's way: once
    per request, the LogRecord and the handler machinery cost more than the
    rest of a compiled request's Python. False: nothing written; log it the
    usual way (another handler, a filter, text lines, a test's capture), with
    fields_after_head(line)."""
    waiting = line_batches.waiting
    if waiting is not None and waiting[0] is logger and waiting[1] == level:
        waiting[2].write(_line_bytes(line))
        return True
    handler = _sole_json_handler(logger, level)
    if handler is None:
        return False
    _write(logger, level, handler, _line_bytes(line))
    return True


def write_json_bytes(logger: logging.Logger, level: int, data: bytes) -> bool:
    """Writes `data`, one JSON line in UTF-8 ending in a newline that a
    caller made as JsonLines would (pid and time included), the way
    write_json_object writes its own. False: nothing written."""
    waiting = line_batches.waiting
    if waiting is not None and waiting[0] is logger and waiting[1] == level:
        waiting[2].write(data)
        return True
    handler = _sole_json_handler(logger, level)
    if handler is None:
        return False
    _write(logger, level, handler, data)
    return True


def _line_bytes(line: dict[str, Any]) -> bytes:
    line["pid"] = _pid
    line["time"] = datetime.now(UTC)
    return _dumps(line, orjson.OPT_APPEND_NEWLINE)


def _write(
    logger: logging.Logger, level: int, handler: logging.StreamHandler[Any], data: bytes
) -> None:
    approved = _approved
    binary = approved[8] if approved is not None and approved[3] is handler else None
    if binary is None:
        stream = handler.stream
        stream.write(data.decode())
        stream.flush()
        return
    # orjson writes UTF-8 already: past the text layer, which would
    # decode and encode again (it holds nothing: every line ends in \n).
    binary.write(data)
    if line_batches.waiting is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # no event loop to flush later from
        if loop is not None:
            line_batches.waiting = (logger, level, binary)
            # Looked up here, not imported: bench/metrics_instructions_bench.py
            # lengthens it to batch under valgrind as at full speed.
            loop.call_later(line_batches.FLUSH_DELAY, flush_lines)
            return
    binary.flush()


def process_id() -> int:
    """This process's id, as JSON lines carry it (kept across a fork)."""
    return _pid


def fields_after_head(line: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key not in ACCESS_HEAD}


def _dumps(line: Mapping[str, Any], option: int = 0) -> bytes:
    """orjson refuses a str that is not valid Unicode (a lone surrogate, which
    a client can put into an operation name or a query): such a line is
    written by the json module instead, which escapes it."""
    try:
        return orjson.dumps(line, option=option)
    except TypeError:  # or a value that orjson does not know
        text = json.dumps(line, default=_iso, ensure_ascii=True)
        return (text + "\n" if option & orjson.OPT_APPEND_NEWLINE else text).encode()


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


_LEVEL_NAMES = {level: logging.getLevelName(level) for level in (10, 20, 30, 40, 50)}
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)

# What the last full check approved, when the handler is the root logger's
# (as configure() sets up) and at most one logger lies between (the
# command's, "graphql_petstore"), with what that check saw: the next calls
# only compare, in straight-line code (the check runs once per request
# otherwise). (the logger asked, the one between or None, the root, the
# handler, [handler], its formatter, its filters, its stream, that stream's
# bytes layer when it writes UTF-8)
_approved: (
    tuple[
        logging.Logger,
        logging.Logger | None,
        logging.Logger,
        logging.StreamHandler[Any],
        list[logging.Handler],
        logging.Formatter | None,
        list[Any],
        Any,
        Any,
    ]
    | None
) = None


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    approved = _approved
    if approved is not None and approved[0] is logger:
        between, root, handler = approved[1], approved[2], approved[3]
        if (
            not logger.handlers
            and not logger.filters
            and logger.propagate
            and (
                logger.parent is root
                if between is None
                else logger.parent is between
                and not between.handlers
                and not between.filters
                and between.propagate
                and between.parent is root
            )
            and not root.filters
            and root.handlers == approved[4]
            and handler.formatter is approved[5]
            and handler.filters == approved[6]
            and handler.stream is approved[7]
            and handler.level <= level
        ):
            return handler
    return _check(logger, level)


def _check(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    global _approved
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        if current.handlers:
            if found is not None or len(current.handlers) != 1:
                return None
            found = current.handlers[0]
        if not current.propagate:
            break
        current = current.parent
    if found is None or found.level > level:
        return None
    if (
        type(found) is not logging.StreamHandler
        or not isinstance(found.formatter, JsonLines)
        or not all(isinstance(f, RequestContext) for f in found.filters)
    ):
        return None
    stream = found.stream
    binary = bytes_layer(stream)
    way = [logger]
    while way[-1].parent is not None and len(way) < 4:
        way.append(way[-1].parent)
    if len(way) in (2, 3) and way[-1].parent is None and way[-1].handlers == [found]:
        _approved = (
            logger,
            way[1] if len(way) == 3 else None,
            way[-1],
            found,
            [found],
            found.formatter,
            list(found.filters),
            stream,
            binary,
        )
    else:
        _approved = None
    return found


def json_formatter() -> JsonFormatter:
    return JsonLines(
        ["levelname", "name", "message", "process"],
        rename_fields={
            "levelname": "level",
            "name": "logger",
            "process": "pid",
            "exc_info": "traceback",
        },
        reserved_attrs=sorted(_NOT_FIELDS),
        timestamp="time",
    )
