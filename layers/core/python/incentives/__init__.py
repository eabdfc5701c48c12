"""Incentives engine: the shared domain core (pure rules), use cases, adapters and HTTP glue."""
