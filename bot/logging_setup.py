"""Log setup: one JSON object per line for `shegong serve`, plain text otherwise, personal numbers masked.

Residents type ID-card and phone numbers into the chat; logs are read by more people and kept longer than
the database, so those numbers are masked in every record before any handler (or a test's caplog) sees it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

# A number starts after a non-digit, or right after a JSON escape such as \u8bc1 (whose last hex digit
# would otherwise hide it): database debug logs show user text that way.
_START = r"(?:(?<=\\u[0-9a-fA-F]{4})|(?<![0-9]))"
# 18-digit mainland resident ID (last character may be X).
ID_NUMBER = re.compile(_START + r"([0-9]{4})[0-9]{10}([0-9]{3}[0-9Xx])(?![0-9Xx])")
# Mainland mobile, optionally +86 / 86 and written 138 1234 5678 or 138-1234-5678.
MOBILE = re.compile(_START + r"((?:\+?86[- ]?)?1[3-9][0-9])[- ]?[0-9]{4}[- ]?([0-9]{4})(?![0-9])")
# Chinese keyboards often type full-width digits; they are matched (and logged) as ASCII.
_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
# Libraries that log message texts or the bot token below these levels: aiosqlite every SQL call with its
# parameters, python-telegram-bot every Bot API call with its parameters and answer, httpx every request URL
# at INFO (Bot API URLs hold the token), httpcore its traces. They stay at least this quiet whatever the level.
# (SQLAlchemy keeps its loggers at WARNING unless told otherwise.)
QUIET_LOGGERS = {"aiosqlite": logging.INFO, "telegram": logging.INFO, "httpx": logging.WARNING,
                 "httpcore": logging.INFO, "asyncpg": logging.INFO}
# A Telegram bot token: the bot's numeric id, a colon and a 35-character secret.
BOT_TOKEN = re.compile(r"(?<![0-9])([0-9]{5,15}):[A-Za-z0-9_-]{30,}")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


# WeChat puts the sender's openid in the callback URL, which the access log records.
OPENID = re.compile(r"(openid=)[^&\s\"]+")


def redact(text: str) -> str:
    """440106199001011234 → 4401**********1234, 13812345678 → 138****5678, openid=… → openid=***,
    a bot token → its bot id and ***."""
    text = OPENID.sub(r"\1***", text.translate(_FULLWIDTH))
    text = BOT_TOKEN.sub(r"\1:***", text)
    text = ID_NUMBER.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    return MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


# SQLAlchemy appends the statement's parameters (the users' words) to its error messages.
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
# Drivers and Python quote the offending value in their messages ("invalid input for query argument $2:
# '张桂英…'", "invalid literal for int(): '…'"). Identifier-like values (a key name, a column) stay readable.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:/$-]{0,64}")
_FRAME_LINES = ("  File ", "Traceback ", "  [Previous line", "\nThe above exception", "\nDuring handling")


def _scrub_message(text: str) -> str:
    text = _SQL_PARAMETERS.sub("[parameters hidden]", text)
    return _QUOTED.sub(lambda m: m.group() if _IDENTIFIER.fullmatch(m.group()[1:-1]) else "'…'", text)


def format_exception(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]
                     | tuple[None, None, None]) -> str:
    """The traceback with every exception's message scrubbed of data: frames (our code) are kept, quoted
    values and SQL parameters in the messages are not. Error logs are for finding the failing line, and a
    message that failed to save must not end up in the log instead."""
    if exc_info[1] is None:
        return ""
    chunks = traceback.TracebackException.from_exception(exc_info[1]).format()
    text = "".join(c if c.startswith(_FRAME_LINES) else _scrub_message(c) for c in chunks)
    return text.rstrip("\n")


class RedactionFilter(logging.Filter):
    """Masks the message and its arguments in place (by formatting them once) and any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string; mask the pieces and let the handler report it
            record.msg = redact(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = format_exception(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction() -> None:
    """Run RedactionFilter on every record as it is created. A handler filter would miss handlers added
    later (third-party ones, pytest's caplog); a logger filter would miss records from child loggers."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return
    redaction = RedactionFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redaction.filter(record)
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, the record's `extra` fields, and exc/stack when present."""

    def formatException(self, ei: Any) -> str:
        return format_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key if key not in entry else f"extra_{key}"] = _masked(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _masked(value: Any) -> Any:
    """An `extra` value, masked: those are set on the record after it is created, so the record-level
    redaction (which covers the message) never sees them. Anything but a short number or a flag is masked
    as the text it would be written as."""
    if value is None or isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**6):
        return value
    if isinstance(value, int):  # an 11-digit number may be a phone number
        text = redact(str(value))
        return value if text == str(value) else text
    if isinstance(value, str):
        return redact(value)
    return redact(json.dumps(value, ensure_ascii=False, default=str))


class PlainFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return format_exception(ei)


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    for name, quietest in QUIET_LOGGERS.items():
        library = logging.getLogger(name)
        library.setLevel(max(library.level, quietest))
    install_redaction()
