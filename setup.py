"""Build step of the ``susulan`` wheel: it carries a copy of the top-level ``forms/`` as ``pipeline/forms_data``.

``forms/`` stays the one source of truth in the checkout; ``pipeline.forms.forms_dir`` reads the copy
(through ``importlib.resources``) only when Susulan runs from an installed wheel.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithForms(build_py):
    """``build_py`` plus the form definitions."""

    def run(self) -> None:
        """Build the packages, then copy ``forms/`` into the built ``pipeline`` package."""
        super().run()
        shutil.copytree(ROOT / "forms", Path(self.build_lib) / "pipeline" / "forms_data", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithForms})
