"""realm.extract."""
