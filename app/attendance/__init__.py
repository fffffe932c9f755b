"""Attendance (出欠): rosters per meeting, self check-in with a rotating code, imports of
web-meeting participant lists, and attendance rates."""
