"""evgen plugin package `evgen_toy_gan`."""
