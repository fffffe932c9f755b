"""Notifications: an outbox of rows written with the change that causes them, delivered by the
scheduler over SMTP and shown in the app; reminders for future events are rows with a due time."""
