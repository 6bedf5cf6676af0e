"""``realm serialize``: print a stay as text for an embedding model (see realm.models.serialize)."""

from __future__ import annotations

__all__: list[str] = []
