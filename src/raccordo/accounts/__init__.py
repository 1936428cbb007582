"""Tenants, users, teams, roles, API tokens, login and the acting user (``Actor``)."""
