"""Operator tooling run from a checkout (not shipped in any Lambda layer)."""
