"""The mixer behind ``dolma mix``: filter expressions, span replacement, sampling, shard writing and the
manifest. ``plan`` validates a config and ``mixing`` holds the per-file task; docs/mixer.md is the guide."""
