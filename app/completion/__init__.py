"""Completion (修了): rules evaluated whenever an input changes, certificates and transcripts."""
