"""The sales pages. Thin: read through scoped querysets, write through services."""
