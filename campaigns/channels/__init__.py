"""The channels that deliver the members' outbox: message templates, WeChat subscriptions, consent and unsubscribe
paths, the sender (rate limits, quiet hours, retries, dead letters) and outbound webhooks. One module per concept.
"""
