"""One module per CLI command: a ``Config`` struct (the command's keys) and ``main(config) -> int``."""
