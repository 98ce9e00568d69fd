"""Command-line entry points of two-stage-posterior (they use both packages)."""
