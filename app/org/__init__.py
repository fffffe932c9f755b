"""The organisation: units (departments and divisions), grades, employees and their placements."""
