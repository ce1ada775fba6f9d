"""Schemas the kit's reports are checked against."""

from __future__ import annotations

from pathlib import Path

import xmlschema

# JUnit XML as CI systems read it (tests/data/junit/junit.xsd says which rules).
JUNIT = xmlschema.XMLSchema(Path(__file__).resolve().parent / "data" / "junit" / "junit.xsd")
