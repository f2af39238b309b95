"""Provider adapters, one module per provider family.

Modules are imported lazily through :mod:`tokenwire.registry`, so ``import tokenwire``
loads none of them.
"""
