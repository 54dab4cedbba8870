"""Support code for ``make demo`` and the example-DAG tests (not part of the installed provider)."""

from __future__ import annotations
