"""Human-readable reports built from a run directory alone."""
