"""Labels and names every resource of the kit carries, so cleanup works by label only."""

MANAGED = "io.netkit.managed"
RUN_ID = "io.netkit.run"
ROLE = "io.netkit.role"
# "true" on a lab left up to be explored (invoke up, run --keep, or by hand with Compose):
# the only labs 'invoke impair', 'shell' and 'down' may pick; a run's own lab is "false".
KEPT = "io.netkit.kept"
TRACER_OF = "io.netkit.tracer-of"   # the run a kernel-tracing helper serves
CONTEXT_HASH = "io.netkit.context-hash"
BASE = "io.netkit.base"             # the base image a lab image was built from
# Images get their own label: containers inherit their image's labels, and a container
# someone starts by hand from the kit's image is not the kit's to remove.
IMAGE = "io.netkit.image"

PROJECT_PREFIX = "netkit-"


def managed_filter(run_id: str | None = None, kept: bool = False) -> dict:
    """A docker-py ``filters`` dict that matches the kit's resources (of one run; only
    those of labs kept up, with ``kept``)."""
    labels = [f"{MANAGED}=true"]
    if run_id:
        labels.append(f"{RUN_ID}={run_id}")
    if kept:
        labels.append(f"{KEPT}=true")
    return {"label": labels}
