"""What every ``python -m hw_lib.<tool>`` shares: one-line errors, exit codes, clean interruption,
and one ``--flag`` per run parameter."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from .config import HELP, PRESETS, RunConfig, field_types, preset_values
from .errors import ConfigError, HwLibError

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


def _value_parser(kind: type, optional: bool) -> Callable[[str], Any]:
    """``int``, ``float`` or ``str`` of a flag's text; ``none`` is None where the parameter allows it."""
    if not optional:
        return kind
    return lambda text: None if text.lower() == "none" else kind(text)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per RunConfig field. A flag not given is absent from the parsed namespace (the
    preset's value stays); ``--image-size none`` sets None over a preset."""
    parser.add_argument("--preset", default="demo", choices=list(PRESETS),
                        help="starting values of every parameter below (default demo)")
    for name, (kind, optional) in field_types().items():
        flag = "--" + name.replace("_", "-")
        values = "" if name == "run_dir" else f" [{preset_values(name)}]"
        none = "; none for None" if optional and "none" not in HELP[name] else ""
        common = {"default": argparse.SUPPRESS, "help": HELP[name] + none + values}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif getattr(kind, "__origin__", None) is list:
            item = kind.__args__[0]
            parser.add_argument(flag, nargs="+", type=_value_parser(item, optional),
                                metavar="N" if item is int else "ID", **common)
        else:
            parser.add_argument(flag, type=_value_parser(kind, optional), metavar=name.upper(), **common)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON (``2``, ``[1, 2]``, ``null``), else kept as text."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected key=value")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def config_from_args(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset named by ``--preset`` with the flags given on top (a flag given as none sets None), and
    ``overrides`` (``--set``'s pairs) over those."""
    given = {name: getattr(args, name) for name in RunConfig.field_names() if hasattr(args, name)}
    given = {name: None if value == [None] else value for name, value in given.items()}  # `--snapshot-epochs none`
    return RunConfig.preset(args.preset, **{**given, **(overrides or {})})
