"""Access lines filled in from a template are the lines made whole, byte for
byte but for the time and the duration's trailing zeros, and their time is
written, to the millisecond, as orjson writes a UTC datetime
(graphql_petstore.observability.access_lines)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from graphql_petstore.observability import access_lines
from graphql_petstore.observability.metrics import GRAPHQL_ERROR, OK, USER_ERROR
from graphql_petstore.observability.requests import RequestRecord, log_access
from tests.observability.test_logs import json_lines_to

_TIME = re.compile(rb'"time":"([^"]*)"')
_DURATION = re.compile(rb'"duration_ms":[0-9.]+')


def _record(**given: object) -> RequestRecord:
    record = RequestRecord(request_id="5f0c2a9be1d44f6f8b0e3c7a9d2e4b61", method="POST")
    record.status = 200
    for name, value in given.items():
        setattr(record, name, value)
    return record


KINDS = {
    "a mutation": _record(
        operation_type="mutation", operation_name="SellPet", outcome=OK, actor="shop"
    ),
    "a user error": _record(
        operation_type="mutation", outcome=USER_ERROR, code="PET_ALREADY_SOLD", actor="shop"
    ),
    "an anonymous query": _record(operation_type="query", outcome=OK),
    "a long name": _record(operation_type="query", operation_name="Q" * 150, outcome=OK),
    "no operation": _record(method="GET", path="/graphql/../x", status=404),
    "the same, another status": _record(method="GET", path="/graphql/../x", status=405),
    "a probe": _record(method="GET", path="/readyz"),
    "an actor named in Unicode": _record(
        operation_type="query", outcome=OK, actor='zoë "quoted" \\ ok'
    ),
    "a refused body": _record(status=413, outcome=GRAPHQL_ERROR, code="PAYLOAD_TOO_LARGE"),
    "percent signs": _record(method="GET", path="/%s%%b%", status=404, actor="100%"),
}


@pytest.fixture
def lines() -> Iterator[io.BytesIO]:
    """What the access logger writes, at DEBUG (probes' lines included)."""
    written = io.BytesIO()
    stream = io.TextIOWrapper(written, encoding="utf-8")
    access_lines.templates.clear()
    with json_lines_to(stream):
        logging.getLogger().setLevel(logging.DEBUG)
        yield written
    access_lines.templates.clear()


def _logged(written: io.BytesIO, record: RequestRecord, seconds: float) -> bytes:
    start = len(written.getvalue())
    log_access(record, seconds)
    line = written.getvalue()[start:]
    assert line.count(b"\n") == 1, line
    assert line.endswith(b"\n"), line
    return line


@pytest.mark.parametrize("seconds", [0.0123456, 0.5, 0.0000004, 3.0004996])
def test_lines_from_templates_are_the_lines_made_whole(
    lines: io.BytesIO, monkeypatch: pytest.MonkeyPatch, seconds: float
) -> None:
    """Every kind twice, in turns (a template that served another kind would
    show), then every kind made whole."""
    templated = [_logged(lines, record, seconds) for _ in range(2) for record in KINDS.values()]
    assert len(access_lines.templates) == len(KINDS) - 1  # an error's line is made whole
    monkeypatch.setattr(access_lines, "MAX_TEMPLATES", 0)
    access_lines.templates.clear()
    whole = [_logged(lines, record, seconds) for record in KINDS.values()]
    assert not access_lines.templates
    for line, expected, record in zip(templated, whole * 2, [*KINDS.values()] * 2, strict=True):
        assert _DURATION.sub(b"", _TIME.sub(b"", line)) == _DURATION.sub(
            b"", _TIME.sub(b"", expected)
        )
        time = _TIME.search(line)
        assert time is not None
        # The time as orjson would have written the datetime it names.
        written = time.group(1).decode()
        assert orjson.dumps(datetime.fromisoformat(written)) == f'"{written}"'.encode()
        parsed = orjson.loads(line)
        assert parsed["request_id"] == record.request_id
        # The same number: to the microsecond, as the line made whole.
        assert parsed["duration_ms"] == orjson.loads(expected)["duration_ms"]
        assert parsed["duration_ms"] == round(seconds * 1000, 3)
        assert (parsed["path"], parsed["actor"]) == (record.path, record.actor)


def test_kinds_of_lines_get_templates_up_to_the_bound_and_are_made_whole_after(
    lines: io.BytesIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_lines, "MAX_TEMPLATES", 3)
    names = [f"Op{n}" for n in range(6)]
    for name in names:
        _logged(lines, _record(operation_type="query", operation_name=name, outcome=OK), 0.001)
    assert len(access_lines.templates) == 3
    logged = [orjson.loads(line) for line in lines.getvalue().splitlines()]
    assert [line["operation_name"] for line in logged] == names


def test_a_value_that_is_a_marker_makes_no_template_and_is_still_written(
    lines: io.BytesIO,
) -> None:
    record = _record(method="GET", path="/\x00", status=404, actor="\x00")
    line = _logged(lines, record, 0.002)
    assert orjson.loads(line)["actor"] == "\x00"
    assert orjson.loads(line)["request_id"] == record.request_id
    assert list(access_lines.templates.values()) == [None]


@pytest.mark.parametrize(
    "milliseconds",
    [
        0,
        1,
        999,
        1_000,
        1_796_029_363_000,  # a whole second: no fraction
        1_796_029_363_001,
        1_796_029_363_123,
        1_796_029_364_999,
        4_102_444_799_999,  # 2099-12-31T23:59:59.999
    ],
)
def test_the_time_is_written_as_orjson_writes_the_utc_datetime(milliseconds: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    assert access_lines.time_text(milliseconds) == orjson.dumps(moment)
    # The second is cached: the next value in another second is right too.
    later = milliseconds + 1_001
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=later)
    assert access_lines.time_text(later) == orjson.dumps(moment)


def test_lines_in_one_millisecond_share_its_time_and_the_next_millisecond_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_796_029_363_123_456_789]
    monkeypatch.setattr(access_lines, "time_ns", lambda: now[0])
    form = b'{"request_id":%b,"duration_ms":%.3f,"time":%b}\n'
    times = []
    for step in (0, 400_000, 600_000):  # the same millisecond, then the next
        now[0] += step
        times.append(orjson.loads(access_lines.join(form, "an id", 0.5))["time"])
    assert times == ["2026-11-30T09:02:43.123000+00:00"] * 2 + ["2026-11-30T09:02:43.124000+00:00"]


def test_a_lone_surrogate_in_a_value_makes_no_template_and_the_line_is_still_written(
    lines: io.BytesIO,
) -> None:
    """orjson refuses such a str (a client's operation name may hold one)."""
    record = _record(operation_type="query", operation_name="a\ud800b", outcome=OK)
    line = _logged(lines, record, 0.002)
    assert json.loads(line)["operation_name"] == "a\ud800b"
    assert list(access_lines.templates.values()) == [None]
