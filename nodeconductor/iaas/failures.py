"""What a worker does when its task fails for a reason that is not the cloud's: the row goes Erred, never stuck.

The tasks catch CloudBackendError, the cloud's refusal, and record its message. Anything else (a bug, a value
the database cannot hold such as a quota of 10**30: OverflowError on SQLite, DataError on PostgreSQL) used to
escape them and leave the row in its working state for good (security issue 27, finding 6). Such a failure now
ends the work as a refusal would, with "Unexpected error: <type>: <message>" as the reason; the traceback goes
to the log, never to the row, and the passwords of the settings are masked in both.

Not recorded: a lost database connection (OperationalError, InterfaceError), which the row could not be written
through anyway and which the sweeper retries once the lease passes; and ConcurrentTransition, which means
another worker or the sweeper owns the row now.
"""

import logging
import traceback

from django.db import InterfaceError, OperationalError, transaction
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from nodeconductor.core.exceptions import without_secrets

from .backend import CloudBackendError

logger = logging.getLogger(__name__)

# The longest reason a row keeps: enough for a message, never a dump.
MAX_REASON = 500
# Failures that are not the work's: left to the sweeper (connection) or to the row's new owner.
NOT_OURS = (OperationalError, InterfaceError, ConcurrentTransition)


def unexpected(exc):
    """Whether a task records this failure as an unexpected error (not the cloud's, not transient, not lost)."""
    return not isinstance(exc, (CloudBackendError, *NOT_OURS))


def reason(exc):
    """The row's reason for an unexpected failure: the exception's type and first message, masked and short."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc) if exc.args else ""
    text = f"Unexpected error: {type(exc).__name__}" + (f": {first}" if first else "")
    text = " ".join(without_secrets(text).split())  # one line: a multi-line message is a dump
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def log(exc, what):
    """Log an unexpected failure of `what` with its traceback, for the operators; passwords masked in both."""
    # Formatted here rather than with exc_info, whose handler would print the exception's message unmasked.
    trace = without_secrets("".join(traceback.format_exception(exc)).rstrip())
    logger.error("%s failed unexpectedly: %s\n%s", what, without_secrets(f"{type(exc).__name__}: {exc}"), trace)


def set_erred(obj, exc, what):
    """Log the failure and put the row, as it is stored, in Erred with the reason.

    The row is read again: the object in hand may hold the very values the database refused. A row that is gone
    or that another worker moved on meanwhile is left as it is.
    """
    log(exc, what)
    with transaction.atomic():
        row = type(obj).objects.select_for_update().filter(pk=obj.pk).first()
        if row is None:
            return None
        try:
            row.set_erred(reason(exc))
        except TransitionNotAllowed:
            logger.info("%s: left as %s, not Erred", what, row.get_state_display())
            return None
        row.save()
    return row
