"""Structured logs: JSON lines with extra fields, and ID-card / mobile numbers masked in every record."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import pytest

from bot.logging_setup import JsonFormatter, RedactionFilter, install_redaction, redact

ID, MOBILE = "440106199001011234", "13812345678"


@pytest.fixture
def redaction() -> Iterator[None]:
    original = logging.getLogRecordFactory()
    install_redaction()
    yield
    logging.setLogRecordFactory(original)


@pytest.mark.parametrize(
    "raw, masked",
    [
        (ID, "4401**********1234"),
        ("44010619900101123X", "4401**********123X"),
        (MOBILE, "138****5678"),
        ("电话：138-1234-5678，身份证 440106199001011234。", "电话：138****5678，身份证 4401**********1234。"),
        ("+8613812345678", "+86138****5678"),
        ("订单 20261128091500123456789 和 12812345678", "订单 20261128091500123456789 和 12812345678"),
        ("１３８１２３４５６７８", "138****5678"),  # full-width digits from a Chinese keyboard
        # JSON-escaped text, as database debug logs show it: \u8bc1 (证) ends in a digit.
        ('"\\u8bc1440106199001011234\\u53f713812345678"', '"\\u8bc14401**********1234\\u53f7138****5678"'),
        # WeChat callback URLs in the access log carry the sender's openid.
        (
            "POST /wechat?signature=ab&openid=oAbC_12-x&timestamp=1 HTTP/1.1",
            "POST /wechat?signature=ab&openid=***&timestamp=1 HTTP/1.1",
        ),
    ],
)
def test_redact(raw: str, masked: str) -> None:
    assert redact(raw) == masked


def test_filter_masks_message_args_and_exception() -> None:
    try:
        raise ValueError(f"bad number {MOBILE}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "user %s id %s", (MOBILE, int(ID)), exc_info)
    assert RedactionFilter().filter(record)
    assert record.getMessage() == "user 138****5678 id 4401**********1234"
    assert MOBILE not in (record.exc_text or "") and "138****5678" in (record.exc_text or "")


def test_json_lines_carry_extra_fields(redaction: None) -> None:
    logger = logging.getLogger("shegong.test.json")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("push failed for %s", MOBILE, extra={"channel": "web", "outbox_id": 7, "note": ID})
    finally:
        logger.removeHandler(handler)
    line = JsonFormatter().format(records[0])
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "WARNING" and entry["logger"] == "shegong.test.json"
    assert entry["message"] == "push failed for 138****5678"
    assert entry["channel"] == "web" and entry["outbox_id"] == 7 and entry["note"] == "4401**********1234"
    assert entry["time"].endswith("+00:00")


def test_json_extras_of_every_type_are_masked() -> None:
    record = logging.LogRecord("shegong.x", logging.INFO, __file__, 1, "sent", None, None)
    record.__dict__.update(
        phone_as_int=int(MOBILE),
        user_id=700000001,
        count=3,
        ok=True,
        ms=1.5,
        header={"Referer": f"/chat?id={ID}"},
        nothing=None,
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["phone_as_int"] == "138****5678" and MOBILE not in json.dumps(entry)
    assert ID not in json.dumps(entry, ensure_ascii=False) and "4401**********1234" in entry["header"]
    assert (entry["user_id"], entry["count"], entry["ok"], entry["ms"], entry["nothing"]) == (
        700000001,
        3,
        True,
        1.5,
        None,
    )


async def test_chat_with_personal_numbers_logs_none_of_them(
    base_url: str, redaction: None, caplog: pytest.LogCaptureFixture
) -> None:
    text = f"我的电话是{MOBILE}，身份证{ID}，低保怎么申请"
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as http:
        for message_id in ("pii-1", "pii-1"):  # the second is a duplicate: the dedup path logs too
            body = {"text": text, "message_id": message_id}
            async with http.post(
                f"{base_url}/api/chat?phone={MOBILE}", json=body, headers={"Referer": f"{base_url}/chat?id={ID}"}
            ) as r:
                assert r.status == 200
    # The access line is written after the response went out, so the client can be faster than the log.
    deadline = time.monotonic() + 30
    while len([r for r in caplog.records if r.name == "aiohttp.access"]) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert caplog.records, "expected the request to log something at DEBUG"
    plain, structured = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"), JsonFormatter()
    for record in caplog.records:
        # What `shegong serve` would write: the JSON line, extra fields included; and the plain-text line of
        # the other commands. The access log leaves the query string (and the phone number in it) out.
        for line in (structured.format(record), plain.format(record)):
            assert MOBILE not in line and ID not in line, line
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert access and all(line.startswith("POST /api/chat 200") for line in access), access
    # The text reached the DEBUG log before the dialog state was encrypted at rest (SQL parameters); now no
    # record carries it at all, masked or not.
    assert not any("低保怎么申请" in r.getMessage() for r in caplog.records)


def test_serve_logging_writes_masked_json_lines() -> None:
    # A fresh interpreter: logging configuration is process-wide and pytest has already configured this one.
    code = (
        "import logging; from bot.cli import _setup_logging; _setup_logging('INFO', json_lines=True); "
        f"logging.getLogger('shegong.x').info('call %s', '{MOBILE}', extra={{'channel': 'web'}}); "
        "logging.getLogger('shegong.x').debug('not at INFO')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    [line] = done.stderr.splitlines()
    assert json.loads(line) | {"time": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "shegong.x",
        "message": "call 138****5678",
        "channel": "web",
    }
