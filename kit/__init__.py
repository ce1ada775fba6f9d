"""netkit: a two-host lab for TCP connection-teardown experiments."""

__version__ = "0.1.0"
