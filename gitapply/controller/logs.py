"""The controller's log: text for a terminal (pass lines on standard output, problems on standard error, as
``gitapply reconcile`` always printed them), or one JSON object per line (``--log-format json``) with the
fields a log pipeline filters on: ``app``, ``pass``, ``object``, ``action``, besides time, level and message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

LOGGER = "gitapply.controller"
FIELDS = ("app", "pass", "object", "action", "revision", "reason", "seconds")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _stamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _stamp(record), "level": record.levelname.lower(),
                                 "msg": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        return json.dumps(entry, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{'error' if record.levelno >= logging.ERROR else 'warning'}: {record.getMessage()}"
        return f"{_stamp(record)} {record.getMessage()}"


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def configure(log_format: LogFormat, *, out: TextIO | None = None, err: TextIO | None = None) -> logging.Logger:
    """The controller's logger, writing in ``log_format``; JSON goes to standard output only."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if log_format is LogFormat.JSON:
        handler = logging.StreamHandler(out or sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        return logger
    info = logging.StreamHandler(out or sys.stdout)
    info.addFilter(_Below(logging.WARNING))
    problems = logging.StreamHandler(err or sys.stderr)
    problems.setLevel(logging.WARNING)
    for handler in (info, problems):
        handler.setFormatter(TextFormatter())
        logger.addHandler(handler)
    return logger
