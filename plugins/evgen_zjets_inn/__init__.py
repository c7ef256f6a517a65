"""evgen plugin package `evgen_zjets_inn`."""
