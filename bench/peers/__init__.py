"""Benchmarks of peer systems (DBOS, Temporal) on the workloads aion is measured on."""
