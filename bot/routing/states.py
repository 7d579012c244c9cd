"""Named dialog states, grouped by the feature that owns the dialog (aiogram's StatesGroup, kept small).

A state is stored as a string `group:name` in the conversation row. A group declared with `form = True` is a
multi-step form whose free-text answers other features must not take as commands; `in_form` is the one
place that question is asked.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

_FORMS: list[type[StatesGroup]] = []


class State:
    """One dialog state. With `prefix=True` it also matches `name:<anything>` (e.g. a form step's name)."""

    def __init__(self, prefix: bool = False) -> None:
        self.prefix = prefix
        self.name = ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.name = f"{getattr(owner, 'prefix', owner.__name__.lower())}:{attr}"

    def __call__(self, suffix: str = "") -> str:
        """The stored value: the name, or `name:suffix` for a prefix state."""
        return f"{self.name}:{suffix}" if suffix else self.name

    def matches(self, state: str | None) -> bool:
        return state is not None and (state == self.name or (self.prefix and state.startswith(self.name + ":")))

    def suffix(self, state: str) -> str:
        return state.removeprefix(self.name + ":") if state != self.name else ""

    def __repr__(self) -> str:
        return f"State({self.name!r})"


class StatesGroup:
    """Subclass with a `prefix` and `State()` attributes; `form = True` marks a multi-step form."""

    prefix: ClassVar[str]
    form: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.form:
            _FORMS.append(cls)

    @classmethod
    def states(cls) -> list[State]:
        return [v for v in vars(cls).values() if isinstance(v, State)]

    @classmethod
    def contains(cls, state: str | None) -> bool:
        return state is not None and state.startswith(cls.prefix + ":")


def in_form(state: str | None) -> bool:
    """The user is in the middle of a multi-step form (their next text is an answer, not a command)."""
    return any(group.contains(state) for group in _FORMS)


class _HasState(Protocol):
    state: str | None


def not_in_form(ctx: _HasState) -> bool:
    """Filter: the sender is not answering a form, so a command word is a command."""
    return not in_form(ctx.state)
