"""Where the kit's own files are: the Compose file, containers/, experiments/. In a
checkout, its root; in an installed kit, the copy the wheel carries (setup.py)."""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGED = Path(__file__).resolve().parents[1] / "_resources"
PROJECT_ROOT = CHECKOUT if (CHECKOUT / "docker-compose.yml").is_file() else PACKAGED
EXPERIMENTS = PROJECT_ROOT / "experiments"
