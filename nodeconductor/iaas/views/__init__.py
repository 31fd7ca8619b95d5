"""IaaS viewsets, one module per area; each module registers its own routes."""
