"""aion transport on NATS JetStream: distributed engines and activity workers."""

__all__: list[str] = []
