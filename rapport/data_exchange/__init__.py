"""Identity and data exchange: duplicates and merge, import, export, the data-quality audit."""
