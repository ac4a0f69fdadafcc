"""Internal errors never reach the application: they are logged once per site, then ignored.

Our own tests turn on :func:`raise_internal_errors` (in ``tests/conftest.py``) so that a
bug in the package fails the test instead of vanishing into a log line; tests of the
guard itself turn it off again.
"""

from __future__ import annotations

import logging
import sys
import threading

from ._fork import renew_in_child

logger = logging.getLogger("otel_agentwatch")

_raise = False
_seen: set[str] = set()
_seen_lock = threading.Lock()
renew_in_child(sys.modules[__name__],
               lambda module: setattr(module, "_seen_lock", threading.Lock()))


def raise_internal_errors(enabled: bool) -> None:
    """Re-raise internal errors instead of logging them (for this package's tests)."""
    global _raise
    _raise = enabled


def internal_error(site: str, error: BaseException,
                   consequence: str = "the application is unaffected and spans keep flowing",
                   ) -> None:
    """Report an error raised inside the package at ``site``; call it from an ``except``.

    The first error at a site is logged as a warning with its traceback, later ones at
    debug level, so a failure on every span does not flood the application's log.
    """
    if _raise:
        raise error
    with _seen_lock:
        first = site not in _seen
        _seen.add(site)
    if first:
        logger.warning(
            "otel-agentwatch: internal error in %s; %s (further errors here are logged at "
            "debug level)",
            site, consequence, exc_info=error,
        )
    else:
        logger.debug("otel-agentwatch: internal error in %s", site, exc_info=error)
