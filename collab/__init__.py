"""Collaborative model documents: their schema, templates, rooms and storage interfaces."""
