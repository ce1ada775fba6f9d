"""Defaults shared by every front door (the tasks, the pytest plugin, the testbeds),
here so that reading them imports nothing heavy."""

# The Debian release the lab's hosts run unless --base-image says otherwise.
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
