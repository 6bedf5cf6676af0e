"""Features: providers that turn a cohort's files into batch tensors beside the series."""
