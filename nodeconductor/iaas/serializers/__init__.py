"""IaaS serializers, one module per area."""
