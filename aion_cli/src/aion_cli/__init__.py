"""The aion command line."""

__all__: list[str] = []
