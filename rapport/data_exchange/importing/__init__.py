"""Importing files: reading them, mapping columns, the importers and the job engine."""
