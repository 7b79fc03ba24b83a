"""replearn's commands (the ``replearn`` console script), benchmarks and book tooling.

Not part of the importable API: ``replearn_core`` never imports this package."""
