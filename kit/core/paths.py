"""Where the project's own files are: the Compose file, containers/, experiments/."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
