"""Simulator profiles (TOML): volumes, severity mix, rhythm, engineers, lifecycle shares, and the plans
customers name on their tickets (read only under a policy with contracts)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from pipeline import resources
from pipeline.domain.events import MAX_CONTRACT_CHARS as MAX_PLAN_CHARS
from pipeline.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Product:
    name: str
    tickets_per_month: float
    severity_mix: tuple[float, float, float, float]
    fastlane_share: float
    customers: int
    # (plan, share of this product's customers whose tickets name it in ``contract``); the rest name none
    plans: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class Profile:
    products: tuple[Product, ...]
    hourly: tuple[float, ...]
    weekly: tuple[float, ...]
    engineers: dict[int, int]  # tier -> count
    lifecycle: dict[str, float]
    ratings: tuple[float, ...]
    dsat_reasons: tuple[str, ...]


def load_profile(path: Path | None = None) -> Profile:
    source = resources.resource(resources.DEFAULT_PROFILE) if path is None else path
    where = source.name
    try:
        doc = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(source), f"is not a readable TOML profile ({exc})") from None

    def need(cond: bool, key: str, why: str) -> None:
        if not cond:
            raise ConfigError(f"{where}: {key}", why)

    products = []
    for i, p in enumerate(doc.get("products", [])):
        mix = tuple(float(x) for x in p.get("severity_mix", []))
        need(len(mix) == 4 and abs(sum(mix) - 1) < 1e-6, f"products[{i}].severity_mix",
             "must be 4 shares adding up to 1")
        need(float(p.get("tickets_per_month", -1)) >= 0, f"products[{i}].tickets_per_month", "must be a number >= 0")
        plans = tuple((str(name), float(share)) for name, share in p.get("plans", {}).items())
        need(all(1 <= len(name) <= MAX_PLAN_CHARS and 0 <= share <= 1 for name, share in plans)
             and sum(share for _, share in plans) <= 1 + 1e-9, f"products[{i}].plans",
             f"must map plan names (1-{MAX_PLAN_CHARS} characters) to shares of customers adding up to at most 1")
        products.append(Product(str(p["name"]), float(p["tickets_per_month"]), mix,  # type: ignore[arg-type]
                                float(p.get("fastlane_share", 0)), int(p.get("customers", 100)), plans))
    need(bool(products), "products", "must list at least one product")
    rhythm = doc.get("rhythm", {})
    hourly = tuple(float(x) for x in rhythm.get("hourly", [1.0] * 24))
    weekly = tuple(float(x) for x in rhythm.get("weekly", [1.0] * 7))
    need(len(hourly) == 24 and min(hourly) >= 0 and max(hourly) > 0, "rhythm.hourly", "must be 24 weights >= 0")
    need(len(weekly) == 7 and min(weekly) >= 0 and max(weekly) > 0, "rhythm.weekly", "must be 7 weights >= 0")
    eng = doc.get("engineers", {})
    engineers = {tier: int(eng.get(f"tier{tier}", 0)) for tier in (1, 2, 3)}
    need(sum(engineers.values()) > 0, "engineers", "needs at least one engineer")
    life = doc.get("lifecycle", {})
    ratings = tuple(float(x) for x in life.get("ratings", [0.55, 0.25, 0.1, 0.06, 0.04]))
    need(len(ratings) == 5 and abs(sum(ratings) - 1) < 1e-6, "lifecycle.ratings", "must be 5 shares adding up to 1")
    shares = {k: float(v) for k, v in life.items() if k not in ("ratings", "dsat_reasons")}
    for key, value in shares.items():
        need(0 <= value <= 1, f"lifecycle.{key}", "must be a share from 0 to 1")
    reasons = tuple(str(r) for r in life.get("dsat_reasons", ["Reason not clear"]))
    return Profile(tuple(products), hourly, weekly, engineers, shares, ratings, reasons)
