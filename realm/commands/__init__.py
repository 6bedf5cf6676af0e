"""Command groups that wire several stages together (like ``realm.cli`` and ``realm.bench``).

A stage imports only from the stages before it; a command that runs extraction and then links
against the KG needs both, so it lives here, above the stages.
"""
