"""Tests for the analytics app."""
