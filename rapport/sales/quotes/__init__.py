"""Quotes: a deal's lines issued as a numbered, versioned document, sent, accepted or declined."""
