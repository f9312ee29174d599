"""Reports: the results JSON (a public contract) and the end-of-session table."""
