"""The terminal channel behind `shegong chat`: interactive, or one message per line when piped."""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from typing import Any, TextIO

from bot.messages import Incoming, Reply
from bot.services import Services
from knowledge.answer import NOT_SURE

QUIT = {"退出", "exit", "quit", "/quit", "/exit"}


def render(replies: list[Reply]) -> str:
    lines: list[str] = []
    for reply in replies:
        lines.append(reply.text)
        if reply.buttons:
            lines.append("  ".join(f"[{n}] {b.label}" for n, b in enumerate(reply.buttons, start=1)))
    return "\n".join(lines)


def as_json(text: str, replies: list[Reply]) -> str:
    """One input line and its replies as one JSON line; `confident` is null for replies that are not policy
    answers (a cited answer is confident, a knowledge-base refusal is not)."""
    out: list[dict[str, Any]] = []
    for reply in replies:
        confident = True if reply.citations else False if NOT_SURE in reply.text else None
        out.append({"text": reply.text, "confident": confident,
                    "sources": [{"path": c.path, "title": c.title} for c in reply.citations]})
    return json.dumps({"in": text, "replies": out}, ensure_ascii=False)


async def run_console(services: Services, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                      user_id: str | None = None, json_lines: bool = False) -> None:
    interactive = stdin.isatty() and not json_lines
    user = user_id or f"console-{getpass.getuser()}"
    if interactive:
        stdout.write("社工助手（终端版）。直接输入问题，输入“帮助”查看功能，输入“退出”结束。\n")
    buttons: list = []
    while True:
        if interactive:
            stdout.write("\n你：")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if text in QUIT and not json_lines:
            break
        is_button = False
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            text, is_button = buttons[int(text) - 1].value, True
        incoming = Incoming(channel="console", user_id=user, chat_id=user, text=text,
                            message_id=uuid.uuid4().hex, at=services.clock.now(), is_button=is_button)
        assert services.dispatcher is not None
        replies = await services.dispatcher.handle(incoming)
        buttons = [b for r in replies for b in r.buttons]
        if json_lines:
            stdout.write(as_json(line.rstrip("\r\n"), replies) + "\n")
            stdout.flush()
            continue
        out = render(replies)
        stdout.write(("助手：" if interactive else "") + out + "\n")
        if not interactive:
            stdout.write("\n")
        stdout.flush()
