"""Backups: one archive holding the database, the uploads folder and a manifest with checksums
(`flask backup create|verify|restore`). No views: this is an operator's tool."""
