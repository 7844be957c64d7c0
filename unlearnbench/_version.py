"""The package version, alone: modules inside the package read it here, never from the package face."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
