"""Users, teams, roles, API tokens and who may see which record."""
