"""Agent desk and supervisor dashboard (filled by the desk issue)."""
