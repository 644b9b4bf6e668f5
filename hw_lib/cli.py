"""What every ``python -m hw_lib.<tool>`` shares: one-line errors, exit codes, clean interruption."""
from __future__ import annotations

import signal
import sys
from typing import Callable

from .errors import HwLibError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main``; a :class:`HwLibError` becomes ``error: <message>`` on stderr and exit 2.

    SIGTERM is turned into an orderly exit so temporary files are cleaned up on the way out.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return main(argv)
    except HwLibError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
