"""Exceptions a user can act on. The CLI prints their message as one line and exits non-zero."""


class DolmaError(Exception):
    """Base class: a problem with the user's config, input or environment, not a bug in the toolkit."""


class ConfigError(DolmaError):
    """A config key is missing, unknown, of the wrong type or names something that does not exist."""


class InputError(DolmaError):
    """An input file is missing, unreadable, truncated or holds a malformed line."""


class LockError(DolmaError):
    """Another run holds the lock of a destination this run would write."""


class StorageError(DolmaError):
    """A local read or write failed for a reason outside the toolkit: disk full, read-only, no permission."""


class RemoteError(DolmaError):
    """An S3 request failed: missing bucket or object, bad credentials, endpoint unreachable."""


class FilterError(InputError):
    """A filter expression failed on a document at run time (a jq error, or its time limit)."""


class StaleOutputError(ConfigError):
    """Outputs exist that another config made; rerunning would mix their results with this config's."""
