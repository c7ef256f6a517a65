"""evgen plugin package `evgen_datasets`."""
