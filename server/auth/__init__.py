"""Who is asking: API keys (``Authorization: Bearer <key>``) resolved to users.

A minimal seam until accounts and sign-in exist: ``spikex users create NAME`` makes a user and
prints a key once; only the key's SHA-256 is stored. ``authenticated`` and ``reviewer`` are
Litestar dependencies (401 without a valid key, 403 without the reviewer role).
"""
