"""Users, SSH keys, token auth and the API conventions every app shares."""
