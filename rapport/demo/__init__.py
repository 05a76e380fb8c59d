"""Demo data: a believable business, built through the same services a user calls."""
