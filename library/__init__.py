"""The neural component library: one folder per component, and the loader that validates and syncs it."""
