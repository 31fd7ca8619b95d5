"""The self-service web portal: one HTML page and static ES modules that talk only to the public REST API."""
