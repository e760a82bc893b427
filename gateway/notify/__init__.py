"""Patient notifications (ACCESS.md "Notifications"): the outbox's delivery to the webhook."""
