"""The fiscal settings of the configuration, checked once when the app is built (a bad one
stops the start, not a receipt at 3 a.m.) and kept in ``app.extensions``::

    settings = FiscalSettings.from_config(config)
    settings.topup_method  # "advance" or "full_prepayment"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context

EXTENSION = "aquastand_fiscal"
PROVIDERS = ("none", "atol")
SCHEMES = ("advance", "prepayment")
# ATOL Online v5 values (tag 1055 tax system, tag 1199 VAT rate).
TAX_SYSTEMS = ("osn", "usn_income", "usn_income_outcome", "esn", "patent")
VAT_RATES = ("none", "vat0", "vat5", "vat7", "vat10", "vat20")
# An advance or a prepayment is taxed at the calculated rate (20/120 …), not the plain one.
CALCULATED_VAT = {"vat5": "vat105", "vat7": "vat107", "vat10": "vat110", "vat20": "vat120"}
_INN = re.compile(r"[0-9]{10}|[0-9]{12}")


@dataclass(frozen=True)
class FiscalSettings:
    """What every receipt needs from the configuration (``fiscal_*`` and ``atol_*``)."""

    provider: str = "none"
    scheme: str = "advance"
    inn: str = ""
    sno: str = "usn_income"
    vat: str = "none"
    payment_address: str = ""
    email: str = ""
    timezone: str = "Europe/Moscow"
    max_refusals: int = 3
    atol_url: str = ""
    atol_login: str = ""
    atol_password: str = ""
    atol_group_code: str = ""

    @classmethod
    def from_config(cls, config: Any) -> FiscalSettings:
        settings = cls(
            provider=config.fiscal_provider,
            scheme=config.fiscal_scheme,
            inn=config.fiscal_inn,
            sno=config.fiscal_sno,
            vat=config.fiscal_vat,
            payment_address=config.fiscal_payment_address,
            email=config.fiscal_email,
            timezone=config.timezone,
            max_refusals=config.fiscal_max_refusals,
            atol_url=config.atol_url,
            atol_login=config.atol_login,
            atol_password=config.atol_password,
            atol_group_code=config.atol_group_code,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot make a valid receipt."""
        _one_of("fiscal_provider", self.provider, PROVIDERS)
        _one_of("fiscal_scheme", self.scheme, SCHEMES)
        _one_of("fiscal_sno", self.sno, TAX_SYSTEMS)
        _one_of("fiscal_vat", self.vat, VAT_RATES)
        if self.max_refusals < 1:
            raise ValueError("fiscal_max_refusals must be at least 1")
        if self.provider == "none":
            return
        if not _INN.fullmatch(self.inn):
            raise ValueError("fiscal_inn must be 10 or 12 digits")
        for name in ("payment_address", "email"):
            if not getattr(self, name).strip():
                raise ValueError(f"fiscal_{name} is needed on every receipt")
        for name in ("atol_url", "atol_login", "atol_password", "atol_group_code"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} is needed for fiscal_provider = 'atol'")

    @property
    def enabled(self) -> bool:
        return self.provider != "none"

    @property
    def topup_method(self) -> str:
        """The settlement method (tag 1214) of a top-up's receipt."""
        return "advance" if self.scheme == "advance" else "full_prepayment"

    def vat_for(self, payment_method: str) -> str:
        """The VAT rate of an item: the calculated one for an advance or a prepayment."""
        if payment_method in ("advance", "full_prepayment"):
            return CALCULATED_VAT.get(self.vat, self.vat)
        return self.vat


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def active_settings() -> FiscalSettings | None:
    """The running app's fiscal settings when receipts are on, else None: with
    ``fiscal_provider = "none"``, or outside an app (a script with a bare database), no
    receipt is queued, as before receipts existed."""
    if not has_app_context():
        return None
    settings: FiscalSettings | None = current_app.extensions.get(EXTENSION)
    return settings if settings is not None and settings.enabled else None
