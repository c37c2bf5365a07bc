"""One module per command group of the `aion` CLI."""
