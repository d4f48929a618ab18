"""The campaigns console, one module per concept: the channels (message templates with their previews and test
sends, the delivery log, consent records), the outbound webhooks (endpoints and their delivery log) and segments
(the rule editor, its live count and sample, and segments as audiences of coupon issues and points grants) and
campaigns (the form, the lifecycle actions, runs and recipients)."""

from campaigns.admin import campaigns, channels, segments, webhooks  # noqa: F401  (registers the admins)
