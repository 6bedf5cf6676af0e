"""realm.models."""
