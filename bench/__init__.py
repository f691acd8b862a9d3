"""Throughput benchmark of the inference service against its own baselines, in one run."""
