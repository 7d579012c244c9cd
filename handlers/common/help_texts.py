"""Help by role: what a bound worker or lead can send, and how to tell a question about using the bot
(`走访记录怎么写`, `待办怎么用`) from a policy question (`低保怎么申请`) or a visit report."""

from __future__ import annotations

import re

from bot.store import WorkerRecord
from handlers.common.roles import ROLE_NAMES

# A how-to question about the bot names one of its functions and asks how: policy questions (低保怎么填表)
# name no function and go to policy answers.
_HOW = re.compile(
    r"(?:怎么|怎样|如何|点样|点|咋|咋样)(?:样)?(?:写|用|填|记|录|操作|发|附|上传|撤销|撤回|使用|弄|搞|开始)"
    r"|用法|说明|教程|格式|示范|例子|范例|模板|有什么功能|有乜功能|能做什么|可以做什么"
)
_TOPIC = re.compile(
    r"走访|走訪|待办|提醒|照片|相片|位置|定位|撤销|撤回|绑定|機器人|机器人|助手|命令|指令|工单|我的对象"
)
_ABOUT_BOT = re.compile(
    r"(?:你|机器人|助手)(?:要|应该)?(?:怎么|怎样|如何|点|咋)(?:样)?用|(?:怎么|点|如何)用你|"
    r"(?:你|机器人|助手)(?:有什么|有乜|有啲咩|有哪些)(?:功能|用)|(?:你|机器人|助手)(?:能|可以|会)(?:做|干)(?:什么|乜|啲咩)"
)


def asks_about_the_bot(text: str) -> bool:
    """`你有什么功能`, `这个机器人怎么用`: anyone may ask how to use the bot."""
    return _ABOUT_BOT.search(text) is not None or (_HOW.search(text) is not None and "机器人" in text)


def is_how_to(text: str) -> bool:
    """`走访记录怎么写`, `怎么记录走访`, `照片怎么附`: a worker's question about a function of the bot. (From a
    resident, `证件照片怎么上传` is a policy question: only `asks_about_the_bot` counts for residents.)"""
    return asks_about_the_bot(text) or (_HOW.search(text) is not None and _TOPIC.search(text) is not None)


WORKER_COMMANDS = (
    "【走访记录】",
    "· 一条消息记完：走访 张桂英 入户 身体还可以，需要助餐，低风险，下周电话回访",
    "  （粤语、繁体、语音转文字都可以；写“今天去咗张桂英屋企……”这样提到名单上的人和走访，也会当作走访记录）",
    "· 只发“走访”，我一步步问；没写清的方式、风险、日期我会问，回复“确认”才保存",
    "· 保存后 10 分钟内发照片（可带说明）或位置，会附到这条记录；30 分钟内发“撤销”可删除",
    "【查询】我的对象｜本月走访｜查 姓名",
    "【提醒】待办｜完成 编号（走访类事项会请您补全那次走访的记录）｜推迟 编号 3天",
    "【居民求助】工单｜回复 编号 内容｜结束 编号｜值班｜下班｜收录 编号（把好的答复存为知识库草稿）",
    "【政策】直接提问，例如“低保怎么申请”",
)
LEAD_COMMANDS = (
    "【站长】本站统计｜逾期（全站逾期事项）｜发布 草稿编号",
    "  社工报告危险情况或高风险时，我会马上通知您；没有能推送的账号时，会在您下次发消息时补上。",
)


def worker_help(worker: WorkerRecord) -> str:
    role = ROLE_NAMES.get(worker.role, worker.role)
    lines = [f"{worker.name}（{worker.station_name}·{role}），您可以这样用：", *WORKER_COMMANDS]
    if worker.is_lead:
        lines += LEAD_COMMANDS
    lines.append("填写中途回复“取消”可随时退出。")
    return "\n".join(lines)
