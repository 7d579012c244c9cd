"""Sentences several features end their replies with."""

URGENT = "有急事可拨打 12345 政务服务热线；遇到紧急危险请立即拨打 110（报警）或 120（急救）。"
