"""Filters: callables on the context that return a bool, or a dict of data for the handler (None = no match)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bot.routing.context import Context

FilterResult = bool | dict[str, Any] | None
Filter = Callable[[Context], FilterResult | Awaitable[FilterResult]]


def fold_text(text: str) -> str:
    """Full-width to half-width and trimmed; what command filters compare against."""
    return unicodedata.normalize("NFKC", text).strip()


class Command:
    """`/name` (Telegram style) or one of the given keywords typed alone."""

    def __init__(self, *names: str, keywords: Iterable[str] = ()) -> None:
        self.names = {n.lower() for n in names}
        self.keywords = set(keywords)

    def __call__(self, ctx: Context) -> bool:
        text = ctx.text
        if text.startswith("/"):
            name = text[1:].split(maxsplit=1)[0].split("@")[0].lower() if len(text) > 1 else ""
            return name in self.names
        return text.rstrip("!！?？。.~ ") in self.keywords


class Regex:
    """A pattern searched in the folded text; the handler receives the match as `match`."""

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.pattern = re.compile(pattern)

    def __call__(self, ctx: Context) -> dict[str, Any] | None:
        found = self.pattern.search(ctx.text)
        return {"match": found} if found is not None else None


class Event:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, ctx: Context) -> bool:
        return ctx.incoming.event == self.name


class HasAttachment:
    def __init__(self, *kinds: str) -> None:
        self.kinds = set(kinds)

    def __call__(self, ctx: Context) -> bool:
        return any(a.kind in self.kinds for a in ctx.incoming.attachments)


def has_text(ctx: Context) -> bool:
    return bool(ctx.text)
