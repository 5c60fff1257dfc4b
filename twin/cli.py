"""How every command ends: one line and an exit status, never a traceback for a user's doing.

Each command (``twin.run``, ``twin.compare``, ``twin.tune``, ``twin.train``, ``twin.validate``)
runs its ``main`` through :func:`run_command` in its ``if __name__ == "__main__"`` block:

* a mistake of the user (:class:`~entities.errors.TwinError`, an existing output file) that the
  command did not report itself: ``error: ...`` on one line, exit status 2;
* Ctrl-C (SIGINT) or SIGTERM: ``interrupted`` on one line, exit status 130. SIGTERM is turned into
  the same ``KeyboardInterrupt`` as Ctrl-C, so the command's own clean-up runs (a study stops its
  pool's workers and says how to ``--resume``). A second signal during that clean-up is ignored; a
  third one ends the process at once (status 130);
* an operating-system error (disk full, permission denied): ``error: ...``, exit status 1;
* a closed pipe on stdout (``python -m twin.validate ... | head -1``): exit status 1, silently.

Messages are clipped (:func:`error_line`): a value thousands of characters long never floods the
terminal. :func:`show_progress` decides whether a progress bar is drawn: on a terminal only, never
in a pipe, a file or with ``--quiet``. :func:`check_writable` is the check, before any work, that
an output can be written where it is asked for.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from entities.errors import TwinError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MESSAGE_WIDTH = 400
"""Characters of an error line at most (file, YAML path, value and the problem fit easily)."""


class OutputError(TwinError):
    """An output cannot be written where it is asked for (reported before any work)."""


def error_line(message: object, width: int = MESSAGE_WIDTH) -> str:
    """``error: MESSAGE`` on one line (whitespace runs collapsed), at most ``width`` characters of
    message; a longer message keeps its start (file and YAML path) and end (the problem)."""
    text = " ".join(str(message).split())
    if len(text) > width:
        keep = width - 30
        text = f"{text[: keep - keep // 4]} ...({len(text) - keep} characters)... {text[-(keep // 4) :]}"
    return f"error: {text}"


def show_progress(quiet: bool = False, stream: TextIO | None = None) -> bool:
    """Draw progress bars? Only on a terminal (``isatty``) and never with ``--quiet``."""
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def check_writable(path: str | os.PathLike[str], what: str) -> Path:
    """Raise :class:`OutputError` unless ``path`` can be created: its nearest existing ancestor
    must be a writable folder (missing folders in between are created when the output is written)."""
    target = Path(path)
    parent = target.parent.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{what} {str(target)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {str(target)!r}: folder {str(parent)!r} is not writable")
    return target


class _Signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt once; a second is ignored, a third exits."""

    def __init__(self) -> None:
        self.count = 0
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt
        if self.count >= 3:
            os._exit(EXIT_INTERRUPTED)

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread: leave the handlers alone
                return

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_command(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main(argv)`` and turn how it ends into an exit status (module docstring)."""
    signals = _Signals()
    signals.install()
    try:
        code = main(argv)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (TwinError, FileExistsError) as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_ERROR
    except MemoryError:
        print(error_line("out of memory (see the size limits in the README)"), file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_ERROR
    finally:
        if not signals.count:  # after an interrupt, later signals stay tamed until the process exits
            signals.restore()
