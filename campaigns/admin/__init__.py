"""The campaigns console, one module per concept: the channels (message templates with their previews and test
sends, the delivery log, consent records) and the outbound webhooks (endpoints and their delivery log)."""

from campaigns.admin import channels, webhooks  # noqa: F401  (registers the admins)
