"""Models: create, list and read the model records (their content is the CRDT document)."""
