"""Quantities shown with one SI prefix chosen for a whole set of values (a table column, a
chart axis, the console's ranking), so that the numbers compare at a glance and the page
and the console say the same thing.

    >>> unit = co2e_unit([0.0002314, 0.0051])
    >>> unit.name, unit.format(0.0002314)
    ('mgCO2e', '0.2314 mgCO2e')
    >>> energy_unit([2.5e-6]).format(2.5e-6)
    '2.5 mWh'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# (prefix, factor) smallest first
_SI = (("n", 1e-9), ("µ", 1e-6), ("m", 1e-3), ("", 1.0), ("k", 1e3), ("M", 1e6),
       ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18))


@dataclass(frozen=True)
class Unit:
    """A display unit: ``name`` (``mgCO2e``) and ``factor``, the base quantity per unit
    (grams per mgCO2e: 1e-3)."""

    name: str
    factor: float

    def __call__(self, value: float) -> float:
        """``value`` (in the base quantity) in this unit."""
        return value / self.factor

    def format(self, value: float | None, digits: int = 4) -> str:
        """``value`` in this unit with ``digits`` significant digits and the unit's name."""
        if value is None or not math.isfinite(value):
            return "n/a"
        return f"{self(value):.{digits}g} {self.name}"


def _choose(values, base: str, *, prefixes, scale: float = 1.0) -> Unit:
    """The largest prefix that shows the largest finite magnitude at 1 or more."""
    finite = [abs(v) * scale for v in values if v is not None and math.isfinite(v) and v]
    if not finite:
        return Unit(base, 1.0 / scale)
    factors = dict(_SI)
    top = max(finite)
    chosen = prefixes[0]
    for prefix in prefixes:
        if top >= factors[prefix] * (1 - 1e-12):
            chosen = prefix
    return Unit(chosen + base, factors[chosen] / scale)


def co2e_unit(grams) -> Unit:
    """µgCO2e, mgCO2e, gCO2e, kgCO2e or tCO2e for values in grams."""
    unit = _choose(grams, "gCO2e", prefixes=("µ", "m", "", "k", "M"))
    return Unit("tCO2e", unit.factor) if unit.name == "MgCO2e" else unit


def energy_unit(kwh) -> Unit:
    """µWh, mWh, Wh, kWh, MWh or GWh for values in kWh."""
    return _choose(kwh, "Wh", prefixes=("µ", "m", "", "k", "M", "G"), scale=1e3)


def flops_unit(flops) -> Unit:
    """FLOPs with a k, M, G, T, P or E prefix for values in FLOPs."""
    return _choose(flops, "FLOPs", prefixes=("", "k", "M", "G", "T", "P", "E"))
