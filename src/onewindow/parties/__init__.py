"""Organisations, users, API tokens, roles and permissions."""
