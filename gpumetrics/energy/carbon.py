"""Carbon intensity of electricity (gCO2e per kWh): given, from the shipped per-country
table, from a cloud region's country, or the world average. No network lookups.

The table (``carbon_intensity.csv`` beside this module) holds the carbon intensity of
electricity generation of 213 countries and territories, each for its latest year there
(2023 or 2022 for nearly all; the ``year`` column says), from Our World in Data's energy
dataset (compiled from Ember's yearly electricity data and the Energy Institute's
Statistical Review of World Energy; CC BY 4.0), as collected in CodeCarbon's
``global_energy_mix.json``. The world average is the generation-weighted mean of those
countries (480.6 gCO2e/kWh). These are annual averages of generation: the grid's intensity
at a given hour, or of a supplier's contract, can differ a lot.

Countries are looked up by ISO 3166-1 alpha-3 or alpha-2 code, English name, or another
common or official name (``Czech Republic``, ``UK``, ``Türkiye``): the ``iso2`` and
``aliases`` columns come from the ISO 3166 data of the ``pycountry`` package (names,
official and common names), with a few names in everyday use added.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("carbon_intensity.csv")
SOURCE = "Our World in Data energy dataset (Ember; Energy Institute)"

# Cloud regions and the country their data centres stand in (the providers' published
# locations); the country's figure is used.
CLOUD_REGIONS = {
    "aws": {"us-east-1": "USA", "us-east-2": "USA", "us-west-1": "USA", "us-west-2": "USA",
            "ca-central-1": "CAN", "eu-west-1": "IRL", "eu-west-2": "GBR",
            "eu-west-3": "FRA", "eu-central-1": "DEU", "eu-north-1": "SWE",
            "eu-south-1": "ITA", "ap-northeast-1": "JPN", "ap-northeast-2": "KOR",
            "ap-southeast-1": "SGP", "ap-southeast-2": "AUS", "ap-south-1": "IND",
            "sa-east-1": "BRA"},
    "gcp": {"us-central1": "USA", "us-east1": "USA", "us-east4": "USA", "us-west1": "USA",
            "northamerica-northeast1": "CAN", "europe-west1": "BEL", "europe-west2": "GBR",
            "europe-west3": "DEU", "europe-west4": "NLD", "europe-north1": "FIN",
            "asia-east1": "TWN", "asia-northeast1": "JPN", "asia-southeast1": "SGP",
            "australia-southeast1": "AUS", "asia-south1": "IND",
            "southamerica-east1": "BRA"},
    "azure": {"eastus": "USA", "eastus2": "USA", "westus": "USA", "westus2": "USA",
              "centralus": "USA", "canadacentral": "CAN", "northeurope": "IRL",
              "westeurope": "NLD", "uksouth": "GBR", "francecentral": "FRA",
              "germanywestcentral": "DEU", "swedencentral": "SWE", "japaneast": "JPN",
              "koreacentral": "KOR", "southeastasia": "SGP", "australiaeast": "AUS",
              "centralindia": "IND", "brazilsouth": "BRA"},
}


@dataclass(frozen=True)
class Intensity:
    iso3: str
    country: str
    g_per_kwh: float
    year: int
    iso2: str = ""
    aliases: tuple[str, ...] = ()


@functools.cache
def table() -> dict[str, Intensity]:
    """The shipped table, by ISO 3166-1 alpha-3 code (``WORLD`` for the world average)."""
    with TABLE.open(newline="", encoding="utf-8") as f:
        return {row["iso3"]: Intensity(row["iso3"], row["country"],
                                       float(row["g_co2e_per_kwh"]), int(row["year"]),
                                       row["iso2"], tuple(filter(None,
                                                                 row["aliases"].split("|"))))
                for row in csv.DictReader(f)}


def _key(name: str) -> str:
    """A name as looked up: accents dropped, case folded, spaces collapsed (``Türkiye``,
    ``TURKIYE`` and ``turkiye`` are one key)."""
    letters = unicodedata.normalize("NFKD", str(name))
    letters = "".join(c for c in letters if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


@functools.cache
def _index() -> dict[str, Intensity]:
    """Every code (``"code:FR"``, ``"code:FRA"``) and name (by ``_key``) of the table to
    its entry; a key of two entries is an error in the table, not a silent choice."""
    index: dict[str, Intensity] = {}
    for entry in table().values():
        keys = {f"code:{c}" for c in (entry.iso2, entry.iso3) if c}
        keys |= {_key(n) for n in (entry.country, *entry.aliases)}
        for key in keys:
            if index.setdefault(key, entry) is not entry:
                raise ValueError(f"the carbon-intensity table gives {key!r} to "
                                 f"{index[key].iso3} and {entry.iso3}.")
    return index


def country(name: str) -> Intensity:
    """A country's entry, by ISO alpha-3 or alpha-2 code (ASCII, any case), or name (case
    and accents ignored)."""
    text = str(name).strip()
    index = _index()
    entry = index.get(f"code:{text.upper()}") if text.isascii() else None
    entry = entry or index.get(_key(text))
    if entry is None:
        raise ValueError(f"country {name!r} is not in the carbon-intensity table: give an ISO "
                         "3166 alpha-2 or alpha-3 code ('FR', 'FRA') or an English name, or "
                         "a carbon intensity in gCO2e/kWh.")
    return entry


def region(name: str) -> tuple[str, Intensity]:
    """A cloud region (``aws:eu-west-1``, or a bare region name) and its country's entry."""
    provider, _, bare = name.strip().lower().rpartition(":")
    providers = [provider] if provider else list(CLOUD_REGIONS)
    for p in providers:
        if bare in CLOUD_REGIONS.get(p, {}):
            return f"{p}:{bare}", country(CLOUD_REGIONS[p][bare])
    known = ", ".join(f"{p}:{r}" for p, regions in CLOUD_REGIONS.items() for r in regions)
    raise ValueError(f"region {name!r} is not a known cloud region ({known}); give a "
                     "country or a carbon intensity instead.")


def location(country_name: str | None = None, region_name: str | None = None) -> dict:
    """Where the energy was used, in CodeCarbon's fields: ``country_name``,
    ``country_iso_code`` (alpha-3), ``region``, ``cloud_provider``, ``cloud_region`` (empty
    where not given)."""
    place = dict.fromkeys(("country_name", "country_iso_code", "region", "cloud_provider",
                           "cloud_region"), "")
    entry = None
    if region_name is not None:
        key, entry = region(region_name)
        place["cloud_provider"], _, place["cloud_region"] = key.partition(":")
    if country_name is not None:
        entry = country(country_name)
    if entry is not None:
        place["country_name"], place["country_iso_code"] = entry.country, entry.iso3
    return place


def resolve(carbon_intensity: float | None = None, country_name: str | None = None,
            region_name: str | None = None) -> tuple[float, str]:
    """``(gCO2e per kWh, where it came from)``: a given value over a country over a cloud
    region over the world average."""
    if carbon_intensity is not None:
        value = float(carbon_intensity)
        if not value >= 0:
            raise ValueError("the carbon intensity must be a non-negative number of gCO2e "
                             f"per kWh; got {carbon_intensity!r}.")
        return value, "given"
    if country_name is not None:
        entry = country(country_name)
        return entry.g_per_kwh, f"{entry.country} {entry.year}, {SOURCE}"
    if region_name is not None:
        key, entry = region(region_name)
        return entry.g_per_kwh, f"{key} in {entry.country} {entry.year}, {SOURCE}"
    world = table()["WORLD"]
    return world.g_per_kwh, (f"world average (generation-weighted over the table), {SOURCE}"
                             " (no country given)")
