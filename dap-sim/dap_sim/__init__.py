"""dap-sim: an offline simulator of the DAP Query API for demos, tests and benchmarks."""
