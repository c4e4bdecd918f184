"""The component library: search and pages, contributions and review, and the sync of the
repository's ``library/`` folder to PostgreSQL and object storage."""
