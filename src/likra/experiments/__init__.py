"""Experiments ("recipes") composed from the data, training, scoring and metrics components."""
