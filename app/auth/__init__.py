"""Sign-in, passwords, login throttling and the locale choice."""
