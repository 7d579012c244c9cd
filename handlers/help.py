"""Greeting and help text."""

from __future__ import annotations

from bot.features import Feature
from bot.messages import Button, Reply
from bot.routing import Command, Context, Event, Router, SkipHandler
from handlers.common.help_texts import asks_about_the_bot, is_how_to, worker_help
from handlers.common.roles import IsWorker
from knowledge.engine.normalize import to_simplified

router = Router("help")

MENU = [Button("低保怎么申请"), Button("残疾人两项补贴"), Button("高龄津贴"), Button("找社工")]

HELP_TEXT = (
    "您好，我是社工助手 🤝，可以帮您：\n"
    "1. 查政策：低保、特困、临时救助、残疾人两项补贴、高龄津贴、长者饭堂、困境儿童等，直接打字问我，"
    "说粤语、繁体字都可以，例如“抵保要准备啲咩文件”；\n"
    "2. 告诉我您在哪个市（例如“我在广州”），我会优先回答当地的规定；\n"
    "3. 回复“详细”看上一个问题的完整内容；\n"
    "4. 回复“找社工”转给所在镇（街）社工站的社工，“社工站在哪”查看地址和电话。\n"
    "我的回答都会注明出处；不确定的我会直接说，不会乱答。"
)

# How to reach a person without the bot; the 找社工 command itself is in handlers/handoff.py.
CONTACT_TEXT = (
    "找社工可以这样：\n"
    "· 到所在镇（街）社工站，或村（居）社工点，工作日上班时间都有社工在；\n"
    "· 打电话给镇（街）社工站，号码可向村（居）委会查询；\n"
    "· 拨打 12345 政务服务热线，说明需要社工帮助。\n"
    "遇到紧急危险请立即拨打 110（报警）或 120（急救）。"
)


@router.message(Event("subscribe"))
async def welcome(ctx: Context) -> Reply:
    return Reply("感谢关注！" + HELP_TEXT, buttons=MENU)


@router.message(
    Command(
        "start",
        "help",
        "menu",
        keywords={"帮助", "菜单", "help", "你好", "您好", "在吗", "hello", "hi", "你是谁", "你系边个", "功能"},
    )
)
async def show_help(ctx: Context) -> Reply:
    """Each role its own commands: a bound worker or lead sees casework, reminders and tickets."""
    if (found := await IsWorker()(ctx)) is not None:
        return Reply(worker_help(found["worker"]), buttons=WORKER_MENU)
    return Reply(HELP_TEXT, buttons=MENU)


WORKER_MENU = [Button("走访"), Button("我的对象"), Button("待办"), Button("本月走访")]


@router.message(lambda ctx: bool(ctx.text) and is_how_to(to_simplified(ctx.text)))
async def how_to(ctx: Context) -> Reply:
    """`走访记录怎么写` from a worker, `你有什么功能` from anyone: how to use the bot, not a policy question."""
    if (found := await IsWorker()(ctx)) is not None:
        return Reply(worker_help(found["worker"]), buttons=WORKER_MENU)
    if not asks_about_the_bot(to_simplified(ctx.text)):
        raise SkipHandler  # a resident's `证件照片怎么上传` is a policy question
    return Reply(HELP_TEXT, buttons=MENU)


@router.message(
    Command(
        keywords={
            "谢谢",
            "多谢",
            "唔该",
            "感谢",
            "好的",
            "好",
            "收到",
            "ok",
            "OK",
            "明白",
            "哈哈",
            "哈哈哈",
            "嗯",
            "嗯嗯",
        }
    )
)
async def thanks(ctx: Context) -> Reply:
    return Reply("😊 还有其他问题随时问我。")


FEATURE = Feature("help", router)
