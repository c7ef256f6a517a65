"""evgen plugin package `evgen_discflow`."""
