"""Shegong Assistant core: configuration, storage, channels, dispatch, server and CLI."""

__version__ = "0.1.0"
