"""Self-healing restarts (issue 16): policy, engine, pages. See models.py."""
