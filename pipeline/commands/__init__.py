"""Command groups beyond ``forms``; each module registers itself with :func:`pipeline.cli.register`."""

from __future__ import annotations

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
