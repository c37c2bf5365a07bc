"""Benchmarks: aion and its peers on the same workloads, in the same run (`python -m bench`)."""
