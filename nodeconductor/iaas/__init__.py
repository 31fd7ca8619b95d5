"""Clouds, tenants, the catalogue and instances."""
