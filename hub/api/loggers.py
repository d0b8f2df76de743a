"""Kafka Connect's ``/admin/loggers`` over Python's logging: log levels read and changed on a
running worker.

Connect speaks log4j's levels (``TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``,
``OFF``); they map onto Python's (``WARN`` is ``WARNING``, ``FATAL`` ``CRITICAL``, ``TRACE``
and ``OFF`` levels of their own, below DEBUG and above CRITICAL). As in Connect, setting a
logger's level sets it on each of its descendants that exists too, and the answer lists them;
``GET /admin/loggers`` lists the loggers that have a level of their own (the root always).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from hub.errors import ConfigError

TRACE, OFF = 5, logging.CRITICAL + 10
_LEVELS = {
    "TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
    "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "OFF": OFF,
}  # fmt: skip
_NAMES = {v: k for k, v in _LEVELS.items()}
ROOT = "root"


class LoggerNotFoundError(ConfigError):
    """A logger the process has not made (a 404, as Connect answers)."""


class Loggers:
    """The process's loggers, with when this API last set each one's level."""

    def __init__(self) -> None:
        self._modified: dict[str, int] = {}

    @staticmethod
    def _logger(name: str) -> logging.Logger | None:
        if name == ROOT:
            return logging.getLogger()
        found = logging.Logger.manager.loggerDict.get(name)
        return found if isinstance(found, logging.Logger) else None

    def _entry(self, name: str, logger: logging.Logger) -> dict[str, Any]:
        level = logger.getEffectiveLevel()
        text = _NAMES.get(level) or logging.getLevelName(level)
        return {"level": text, "last_modified": self._modified.get(name)}

    def all(self) -> dict[str, dict[str, Any]]:
        out = {ROOT: self._entry(ROOT, logging.getLogger())}
        for name, logger in sorted(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
                out[name] = self._entry(name, logger)
        return out

    def get(self, name: str) -> dict[str, Any]:
        logger = self._logger(name)
        if logger is None:
            raise LoggerNotFoundError(f"Logger {name} not found.")
        return self._entry(name, logger)

    def set(self, name: str, level: Any) -> list[str]:
        """Set ``name``'s level and its existing descendants'; the names set, sorted."""
        value = _LEVELS.get(str(level).upper()) if isinstance(level, str) else None
        if value is None:
            raise ConfigError(
                f"Invalid log level {str(level)[:40]!r}: use one of {', '.join(_LEVELS)}"
            )
        if name == ROOT:
            names = [ROOT] + [
                n for n, lg in logging.Logger.manager.loggerDict.items()
                if isinstance(lg, logging.Logger)
            ]  # fmt: skip
        else:
            logging.getLogger(name)  # (made if it is not yet: Connect sets it all the same)
            prefix = name + "."
            names = [
                n for n, lg in logging.Logger.manager.loggerDict.items()
                if isinstance(lg, logging.Logger) and (n == name or n.startswith(prefix))
            ]  # fmt: skip
        now = int(time.time() * 1000)
        for n in names:
            logger = self._logger(n)
            assert logger is not None
            logger.setLevel(value)
            self._modified[n] = now
        return sorted(names)
