"""The root of hub's exceptions.

Retry logic switches on the class, never on the message text:

* `ConfigError` - the user must change something (a config, an argument, a name);
* `TransientError` - the operation may succeed if retried;
* `FatalError` - stop the task; retrying will not help.

Messages say what happened, where, and what to do. They never contain secrets.
"""

from __future__ import annotations


class HubError(Exception):
    """Root of all errors raised by hub."""


class ConfigError(HubError):
    """A user mistake: a bad config value, name or argument. Fix the input and try again."""


class TransientError(HubError):
    """A failure that may go away if the operation is retried."""


class FatalError(HubError):
    """A failure that retrying will not fix; the task stops."""


class ResumeError(HubError):
    """The task's position is no longer right (a sink's target went back to offsets before
    the ones the task wrote): the runtime restarts the task, which resumes from where its
    target says it is. Never retried in place, never sent to a dead letter queue."""


def describe(exc: BaseException) -> str:
    """A driver's message on one line, every line of it kept: libpq puts the cause on one
    line ("Connection refused") and its hint on the next ("Is the server running...?")."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines()]
    return "; ".join(line for line in lines if line) or type(exc).__name__
