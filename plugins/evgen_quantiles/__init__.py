"""evgen plugin package `evgen_quantiles`."""
