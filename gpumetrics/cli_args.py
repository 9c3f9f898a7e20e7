"""What the ``gpumetrics`` commands share about their arguments: the argparse types of
their numeric flags (``number``, ``positive``; a bad value is a usage error naming the
flag, exit 2), and the checks made before a command starts work (``backend_problem``,
``carbon_flags``), each giving one line naming the flag, or None."""

from __future__ import annotations

import argparse
import math
import os


def number(minimum: float, inclusive: bool = True, maximum: float = float("inf")):
    """An argparse type: a finite number of at least (or above) ``minimum`` and at most
    ``maximum``; else a usage error naming the flag (exit 2)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        low = value >= minimum if inclusive else value > minimum
        if not (low and value <= maximum and math.isfinite(value)):
            bound = (f"at least {minimum:g}" if inclusive else f"above {minimum:g}") + (
                f" and at most {maximum:g}" if math.isfinite(maximum) else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}; got {text}")
        return value
    return parse


def positive(minimum: int = 1):
    """An argparse type: an integer of at least ``minimum`` (else a usage error, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(float(text)) if "e" in text.lower() else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value
    return parse


def backend_problem(backend: str | None) -> str | None:
    """Why the backend of ``--backend`` (or of ``GPUMETRICS_BACKEND``) cannot run here, as
    one line naming where it came from, or None."""
    from gpumetrics import dispatch

    try:
        dispatch.resolve(backend)
    except (dispatch.BackendUnavailableError, ValueError) as exc:
        source = (f"--backend {backend}" if backend is not None
                  else f"{dispatch.ENV_VAR}={os.environ.get(dispatch.ENV_VAR, '')}")
        return f"{source}: {exc}"
    return None


def carbon_flags(args, command: str) -> str | None:
    """The error of ``--country`` / ``--region`` as one line naming the flag, or None."""
    from gpumetrics.energy import carbon

    for flag, value, look_up in (("--country", args.country, carbon.country),
                                 ("--region", getattr(args, "region", None), carbon.region)):
        if value is not None:
            try:
                look_up(value)
            except ValueError as exc:
                return f"gpumetrics {command}: {flag}: {exc}"
    return None
