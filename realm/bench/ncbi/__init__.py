"""The NCBI disease corpus: its PubTator reader and the ``realm bench linking-ncbi`` benchmark."""
