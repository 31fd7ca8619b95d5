"""The benchmarks are scripts, not tests: keep pytest from collecting anything here, even when pointed at it."""

collect_ignore_glob = ["*"]
