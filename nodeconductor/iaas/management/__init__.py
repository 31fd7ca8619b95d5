"""Management commands of iaas."""
