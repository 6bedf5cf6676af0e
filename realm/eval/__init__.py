"""realm.eval."""
