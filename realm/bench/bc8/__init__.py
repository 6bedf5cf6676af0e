"""BioCreative VIII Track 3: phenotype extraction and HPO normalization, benchmark-specific code."""
