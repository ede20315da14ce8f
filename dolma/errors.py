"""Exceptions a user can act on. The CLI prints their message as one line and exits non-zero."""


class DolmaError(Exception):
    """Base class: a problem with the user's config, input or environment, not a bug in the toolkit."""


class ConfigError(DolmaError):
    """A config key is missing, unknown, of the wrong type or names something that does not exist."""


class InputError(DolmaError):
    """An input file is missing, unreadable, truncated or holds a malformed line."""
