"""Build hook that lists the installed packages from the folder mapping in ``pyproject.toml``.

The source tree keeps the top-level folders ``cli/``, ``importers/``, ``cypher/`` and ``services/``;
``[tool.setuptools.package-dir]`` installs them as ``lineagegraph.cli`` and so on. setuptools' ``find``
directive cannot put a prefix in front of what it finds, so this file does the same search per mapped
folder and prefixes the results: a new subpackage (``importers/k8s/``) is packaged without editing anything.
Everything else about the build lives in ``pyproject.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

ROOT = Path(__file__).resolve().parent

# Folders of the main package that hold only package data (the HTML page's script and styles,
# the sample inputs). They are listed as packages too: otherwise every build warns that they are
# importable yet not packaged.
DATA_FOLDERS = ("htmlpage", "samples", "samples.*")


def mapped_packages() -> list[str]:
    """Every package under each ``package-dir`` entry, named with the entry's dotted prefix."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    packages: set[str] = set()
    for name, folder in package_dir.items():
        packages.add(name)
        packages.update(f"{name}.{sub}" for sub in find_packages(str(ROOT / folder)))
    packages.update(f"lineagegraph.{sub}" for sub in find_namespace_packages(str(ROOT / "lineagegraph"),
                                                                             include=DATA_FOLDERS))
    return sorted(packages)


setup(packages=mapped_packages())
