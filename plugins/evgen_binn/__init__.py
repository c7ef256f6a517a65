"""evgen plugin package `evgen_binn`."""
