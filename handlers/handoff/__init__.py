"""Handoff to a social worker: the resident's request, tickets, the workers' replies, and the bot stepping
aside (a middleware) while a person talks."""
