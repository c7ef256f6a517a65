"""evgen plugin package ``evgen_quantiles``: the ``quantile-mse`` metric and the ``two-gaussian-fit`` generator."""
