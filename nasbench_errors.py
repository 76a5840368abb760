"""User-facing errors: each says in one line what is wrong and what to do about it.

The CLI prints ``HarnessError`` messages without a traceback and exits with status 2; anything else
is a bug and keeps its traceback.
"""

import re


class HarnessError(Exception):
    """An error caused by input or environment, with a message meant for the user."""


class ConfigError(HarnessError):
    """Unknown method, benchmark, dataset or profile, or conflicting options."""


class DataError(HarnessError):
    """Missing, truncated or corrupt dataset files."""


class OracleError(HarnessError):
    """Missing, truncated, corrupt or wrong-version benchmark (oracle) files."""


class StoreError(HarnessError):
    """A results store that cannot be opened or written."""


class RunFailed(HarnessError):
    """A run that cannot continue (NaN loss, ...); the run is marked failed with this reason."""


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URL in it (``scheme://user:PASSWORD@host``) and every
    ``password=...`` parameter replaced by ``***``: for every message, log line and stored error."""
    text = re.sub(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s@]*(?=@)", r"\1***", text)
    return re.sub(r"(\bpassword=)('[^']*'|\"[^\"]*\"|[^\s&;,)\]]*)", r"\1***", text, flags=re.IGNORECASE)
