"""`shegong privacy purge`: the retention purge the housekeeping loop also runs (handlers/handoff/maintenance.py)."""

from __future__ import annotations

import argparse

from bot.config import Settings
from handlers.handoff.maintenance import purge_command


# -- shegong privacy purge ------------------------------------------------------------------------
async def _privacy_purge(args: argparse.Namespace) -> int:
    return await purge_command(Settings(), args.now)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """`shegong privacy purge`."""
    privacy = sub.add_parser("privacy", help="个人信息保护").add_subparsers(dest="privacy_command", required=True,
                                                                      metavar="ACTION")
    p = privacy.add_parser("purge", help="删除超过保存期限（SHEGONG_RETENTION_DAYS，默认 180 天）的对话记录")
    p.add_argument("--now", metavar="ISO", help="以这个时间为“现在”计算期限，如 2026-12-01T00:00:00+08:00")
    p.set_defaults(run=_privacy_purge)
