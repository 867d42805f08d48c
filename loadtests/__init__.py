"""Load tests and the benchmark that measures StarPunk's container."""
