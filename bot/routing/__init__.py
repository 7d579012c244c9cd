"""Routing: the per-message context, filters that may hand data to handlers, routers that nest and carry
their own filters, named dialog states, and the dispatcher that runs the middleware chain.

Shaped after aiogram 3: a feature builds one `Router`, possibly with router-level filters (a message the
router's filters reject falls through to the next router), and `include_router`s sub-routers. A filter returns
a bool, or a dict whose entries are passed to the handler as keyword arguments by parameter name.
"""

from bot.routing.context import Context, HandlerResult, Next
from bot.routing.dispatcher import Dispatcher, Middleware, as_replies
from bot.routing.filters import Command, Event, Filter, FilterResult, HasAttachment, Regex, fold_text, has_text
from bot.routing.router import ANY_STATE, Handler, Router, SkipHandler
from bot.routing.states import State, StatesGroup, in_form, not_in_form

__all__ = [
    "ANY_STATE", "Command", "Context", "Dispatcher", "Event", "Filter", "FilterResult", "Handler", "HandlerResult",
    "HasAttachment", "Middleware", "Next", "Regex", "Router", "SkipHandler", "State", "StatesGroup", "as_replies",
    "fold_text", "has_text", "in_form", "not_in_form",
]
