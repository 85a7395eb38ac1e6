"""`hxtorch.logger`: the subset of pylogging (electronicvisions/logger) that hxtorch code uses.

The real `hxtorch.logger` *is* the pylogging module, a log4cxx binding. Scripts written for it
call `logger.get(name).INFO(...)` or `.info(...)`, `logger.set_loglevel(...)`,
`logger.default_config(...)` and `logger.reset()`, so those must work unchanged. hxemu builds
them on Python's `logging`: a pylogging logger is the `logging.Logger` of the same name, the
pylogging root is the `logging` root, and pylogging's "appenders" are the handlers that this
module installed (handlers added by others, e.g. pytest's capture, are not pylogging appenders
and are never removed here).
"""

from __future__ import annotations

import enum
import logging
import sys
from typing import Any

TRACE_LEVEL = 5  # below logging.DEBUG
logging.addLevelName(TRACE_LEVEL, "TRACE")

_APPENDER_MARK = "_hxtorch_logger_appender"
_LEVELS_SET: set[str] = set()  # names of the loggers whose threshold was set here


class LogLevel(enum.IntEnum):
    """pylogging's levels, valued as the matching `logging` levels."""

    FATAL = logging.CRITICAL
    ERROR = logging.ERROR
    WARN = logging.WARNING
    INFO = logging.INFO
    DEBUG = logging.DEBUG
    TRACE = TRACE_LEVEL
    ALL = 1  # everything (0 would mean "inherit" in logging)


class Logger:
    """A named logger with pylogging's method names (upper and lower case)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @property
    def name(self) -> str:
        return self._logger.name

    @property
    def logging_logger(self) -> logging.Logger:
        """The underlying `logging.Logger`."""
        return self._logger

    def _log(self, level: int, message: Any, *more: Any) -> None:
        if self._logger.isEnabledFor(level):
            text = " ".join(str(m) for m in (message, *more))
            self._logger.log(level, "%s", text, stacklevel=3)

    def TRACE(self, message: Any, *more: Any) -> None:  # noqa: N802 - pylogging's name
        self._log(TRACE_LEVEL, message, *more)

    def DEBUG(self, message: Any, *more: Any) -> None:  # noqa: N802
        self._log(logging.DEBUG, message, *more)

    def INFO(self, message: Any, *more: Any) -> None:  # noqa: N802
        self._log(logging.INFO, message, *more)

    def WARN(self, message: Any, *more: Any) -> None:  # noqa: N802
        self._log(logging.WARNING, message, *more)

    def ERROR(self, message: Any, *more: Any) -> None:  # noqa: N802
        self._log(logging.ERROR, message, *more)

    def FATAL(self, message: Any, *more: Any) -> None:  # noqa: N802
        self._log(logging.CRITICAL, message, *more)

    trace = TRACE
    debug = DEBUG
    info = INFO
    warn = WARN
    warning = WARN
    error = ERROR
    fatal = FATAL

    def get_number_of_appenders(self) -> int:
        """Handlers that this module attached to this logger."""
        return sum(1 for h in self._logger.handlers if getattr(h, _APPENDER_MARK, False))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Logger) and other._logger is self._logger

    def __hash__(self) -> int:
        return hash(self._logger)

    def __repr__(self) -> str:
        return f"Logger({self.name!r})"


def get(name: str) -> Logger:
    """The logger called `name` (dots separate the hierarchy, as in pylogging)."""
    return Logger(logging.getLogger(name))


def get_root() -> Logger:
    return Logger(logging.getLogger())


def set_loglevel(logger: Logger, level: LogLevel | int) -> None:
    """Set the threshold of `logger` (messages below it are dropped)."""
    target = _as_logging(logger)
    target.setLevel(int(level))
    _LEVELS_SET.add(target.name)


def _as_logging(logger: Logger | logging.Logger) -> logging.Logger:
    if isinstance(logger, Logger):
        return logger.logging_logger
    if isinstance(logger, logging.Logger):
        return logger
    raise TypeError(f"expected a logger from hxtorch.logger.get(), got {type(logger).__name__}")


_DATE_FORMATS = {"ABSOLUTE": "%H:%M:%S", "ISO8601": "%Y-%m-%d %H:%M:%S",
                 "DATE": "%d %b %Y %H:%M:%S", "NULL": None}


class _Formatter(logging.Formatter):
    """pylogging's layout: time, level, logger name, message (optionally the location)."""

    COLORS = {TRACE_LEVEL: "\033[37m", logging.DEBUG: "\033[36m", logging.INFO: "\033[32m",
              logging.WARNING: "\033[33m", logging.ERROR: "\033[31m", logging.CRITICAL: "\033[35m"}

    def __init__(self, date_format: str, print_location: bool, color: bool) -> None:
        if date_format not in _DATE_FORMATS:
            raise ValueError(f"date_format must be one of {sorted(_DATE_FORMATS)}, got "
                             f"{date_format!r}")
        self._datefmt = _DATE_FORMATS[date_format]
        self._msec = date_format in ("ABSOLUTE", "ISO8601", "DATE")
        self._location = print_location
        self._color = color
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self._datefmt is not None:
            stamp = self.formatTime(record, self._datefmt)
            parts.append(f"{stamp},{int(record.msecs):03d}" if self._msec else stamp)
        level = f"{record.levelname:<5}"
        if self._color:
            level = f"{self.COLORS.get(record.levelno, '')}{level}\033[0m"
        parts += [level, record.name]
        text = " ".join(parts) + " " + record.getMessage()
        if self._location:
            text += f" ({record.pathname}:{record.lineno})"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _appender(handler: logging.Handler, formatter: logging.Formatter) -> logging.Handler:
    handler.setFormatter(formatter)
    setattr(handler, _APPENDER_MARK, True)
    return handler


def default_config(level: LogLevel | int = LogLevel.WARN, fname: str = "", dual: bool = False,
                   print_location: bool = False, color: bool = True,
                   date_format: str = "ABSOLUTE") -> None:
    """Root threshold `level`; log to stderr, or to `fname` (and stderr too with `dual`).

    Colour codes are only written to a terminal.
    """
    root = logging.getLogger()
    root.setLevel(int(level))
    if fname:
        root.addHandler(_appender(logging.FileHandler(fname),
                                  _Formatter(date_format, print_location, color=False)))
    if not fname or dual:
        tty = color and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        root.addHandler(_appender(logging.StreamHandler(), _Formatter(date_format,
                                                                      print_location, tty)))


def reset() -> None:
    """Remove this module's appenders everywhere; thresholds set here go back to "inherit"
    (the root's to logging's default, WARN)."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [lg for lg in manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in list(lg.handlers):
            if getattr(h, _APPENDER_MARK, False):
                lg.removeHandler(h)
                h.close()
    for lg in loggers[1:]:
        if lg.name in _LEVELS_SET:
            lg.setLevel(logging.NOTSET)
    _LEVELS_SET.clear()
    logging.getLogger().setLevel(logging.WARNING)


def append_to_file(fname: str, logger: Logger | None = None) -> None:
    """Also write `logger` (default: root) to the file `fname`."""
    target = _as_logging(logger) if logger is not None else logging.getLogger()
    target.addHandler(_appender(logging.FileHandler(fname),
                                _Formatter("ABSOLUTE", False, color=False)))


def bootstrap() -> None:
    """What `import hxtorch` does: WARN for everything and INFO for hxtorch, unless the pylogging
    root already has appenders (someone configured logging through this module before)."""
    if get_root().get_number_of_appenders() == 0:
        reset()
        default_config(level=LogLevel.WARN)
        set_loglevel(get("hxtorch"), LogLevel.INFO)


__all__ = ["LogLevel", "Logger", "append_to_file", "default_config", "get", "get_root",
           "reset", "set_loglevel"]
