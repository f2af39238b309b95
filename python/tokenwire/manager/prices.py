"""The manager's default price source: the packaged model catalog.

:class:`CatalogPrices` answers the ``cheapest`` strategy's question (input and output
USD per million tokens of a ``provider``/``model``) from :mod:`tokenwire.catalog`, and
prices a finished request's usage with Roo-Code's formula for its provider (cache
reads and writes included, long-context tiers applied) for the ``cost_usd`` metric.
The catalog is loaded on first use, and each target's entry is looked up once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Union

# Imported here, not per call: a function-level import costs ~0.5 µs per request.
# (The module is light; the catalog data loads on first use.)
from tokenwire import catalog

if TYPE_CHECKING:
    from tokenwire.catalog import CatalogModel
    from tokenwire.providers.base import Provider
    from tokenwire.types import Usage

__all__ = ["CatalogPrices"]

# A lookup that found nothing is remembered too.
_MISSING: object = object()


class CatalogPrices:
    """A :data:`~tokenwire.manager.routing.PriceLookup` over the packaged catalog, with
    the catalog's cost formulas (:func:`tokenwire.catalog.cost`) for whole usages."""

    __slots__ = ("_entries", "_pricers")

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], object] = {}
        self._pricers: dict[tuple[str, str], Optional[Callable[[Usage], float]]] = {}

    def __repr__(self) -> str:
        return "<CatalogPrices (tokenwire.catalog)>"

    def entry(self, provider: Union[str, Provider], model: str) -> Optional[CatalogModel]:
        """The catalog entry of ``model`` on ``provider`` (a name or an instance, which
        tells Z.ai's regions apart), or ``None``; remembered per pair."""
        key = (catalog.catalog_key(provider), model)
        found = self._entries.get(key)
        if found is None:
            hit = catalog.entry(key[0], model)
            found = self._entries[key] = hit if hit is not None else _MISSING
        return None if found is _MISSING else found  # type: ignore[return-value]

    def __call__(self, provider: str, model: str) -> Optional[tuple[float, float]]:
        """``(input, output)`` USD per million tokens, when the catalog has both."""
        found = self.entry(provider, model)
        if found is None:
            return None
        info = found.info
        if info.input_price is None or info.output_price is None:
            return None
        return (info.input_price, info.output_price)

    def pricer(self, provider: Union[str, Provider], model: str) -> Optional[Callable[[Usage], float]]:
        """:func:`tokenwire.catalog.pricer` for ``model`` on ``provider`` (remembered per
        catalog name and model); ``None`` for a model the catalog cannot price."""
        key = (catalog.catalog_key(provider), model)
        try:
            return self._pricers[key]
        except KeyError:
            found = self.entry(key[0], model)
            # The catalog name stands for the provider there too (it reads nothing else of it).
            price = self._pricers[key] = None if found is None else catalog.pricer(key[0], found)
            return price

    def cost(self, provider: Union[str, Provider], model: str, usage: Usage) -> Optional[float]:
        """USD for ``usage`` by Roo-Code's formula for ``provider`` (``usage.cost`` when
        the provider reported one); ``None`` for a model the catalog cannot price."""
        if usage.cost is not None:
            return float(usage.cost)
        price = self.pricer(provider, model)
        return None if price is None else price(usage)
