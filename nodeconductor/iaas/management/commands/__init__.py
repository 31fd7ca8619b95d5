"""Commands: pull_cloud_accounts."""
