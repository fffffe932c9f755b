"""Enrolment: seats, manager approval, fair waitlists, calendars and "My learning"."""
