"""aion's side of the benchmarks: one module per group of workloads, run as a process each."""
