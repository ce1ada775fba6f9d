"""Labels and names every resource of the kit carries, so cleanup works by label only."""

MANAGED = "io.netkit.managed"
RUN_ID = "io.netkit.run"
ROLE = "io.netkit.role"
CONTEXT_HASH = "io.netkit.context-hash"

PROJECT_PREFIX = "netkit-"


def managed_filter(run_id: str | None = None) -> dict:
    """A docker-py ``filters`` dict that matches the kit's resources (of one run)."""
    labels = [f"{MANAGED}=true"]
    if run_id:
        labels.append(f"{RUN_ID}={run_id}")
    return {"label": labels}
