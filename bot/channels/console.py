"""The terminal channel behind `shegong chat`: interactive, or one message per line when piped."""

from __future__ import annotations

import getpass
import sys
import uuid
from typing import TextIO

from bot.services import Services
from bot.messages import Incoming, Reply

QUIT = {"退出", "exit", "quit", "/quit", "/exit"}


def render(replies: list[Reply]) -> str:
    lines: list[str] = []
    for reply in replies:
        lines.append(reply.text)
        if reply.buttons:
            lines.append("  ".join(f"[{n}] {b.label}" for n, b in enumerate(reply.buttons, start=1)))
    return "\n".join(lines)


async def run_console(services: Services, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                      user_id: str | None = None) -> None:
    interactive = stdin.isatty()
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
        if text in QUIT:
            break
        is_button = False
        if text.isdigit() and 1 <= int(text) <= len(buttons):
            text, is_button = buttons[int(text) - 1].value, True
        incoming = Incoming(channel="console", user_id=user, chat_id=user, text=text,
                            message_id=uuid.uuid4().hex, at=services.clock.now(), is_button=is_button)
        assert services.dispatcher is not None
        replies = await services.dispatcher.handle(incoming)
        buttons = [b for r in replies for b in r.buttons]
        out = render(replies)
        stdout.write(("助手：" if interactive else "") + out + "\n")
        if not interactive:
            stdout.write("\n")
        stdout.flush()
