"""Reports: saved charts and tables grouped and measured over the records a user may see."""
