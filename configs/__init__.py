"""Bundled configs and data: the quickstart pipeline and its sample corpus, and published mix recipes.

A package (not only a folder) so that an installed toolkit finds them through importlib.resources."""
