"""Custom fields: typed, validated definitions; values live as JSON on the record."""
