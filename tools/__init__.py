"""Developer tools: vendoring the clients' libraries, profiling the hot paths (not shipped)."""
