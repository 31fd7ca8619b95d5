"""What a pull writes from what the cloud answered, one module per resource: the catalogue (flavors, images,
quotas) and the instances (reconciled with their servers)."""
