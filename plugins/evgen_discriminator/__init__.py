"""evgen plugin package `evgen_discriminator`."""
