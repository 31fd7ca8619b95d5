"""Structured events: what happened to which resource, by whom, readable by the same roles."""
