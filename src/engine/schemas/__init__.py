"""Pydantic models at the API edge: write bodies forbid unknown fields."""
