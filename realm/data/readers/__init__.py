"""realm.data.readers."""
