"""The workflow runtime: the deterministic loop and the live instance it drives."""
