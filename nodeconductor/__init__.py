"""NodeConductor: a self-service broker for shared API-driven clouds."""

__version__ = "0.1.0"
