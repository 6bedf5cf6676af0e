"""realm.kg."""
