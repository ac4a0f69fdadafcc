"""What a forked child must not inherit: locks another thread of the parent may have held,
and the parent's runs.

Every object of ours that holds a lock or per-process state registers here with the
function that renews it; one ``os.register_at_fork`` hook calls them all in the child.
Owners are held weakly, so registering never keeps one alive and the registry holds only
live owners.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renew_in_child"]

_Owner = TypeVar("_Owner")
_RENEW: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()


def renew_in_child(owner: _Owner, renew: Callable[[_Owner], None]) -> None:
    """Call ``renew(owner)`` in every child forked while ``owner`` lives (a module, or an
    object that is hashable and weakly referenceable)."""
    _RENEW[owner] = renew


def _after_fork_in_child() -> None:
    # Only this thread exists now; no other can change the registry while it is read.
    for owner, renew in list(_RENEW.items()):
        with contextlib.suppress(Exception):  # nothing may stop the child
            renew(owner)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
