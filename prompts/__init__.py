"""Prompt catalogues keyed by id, one TOML file per language."""
