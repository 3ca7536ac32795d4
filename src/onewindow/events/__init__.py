"""The event log (outbox): every state change, who may see it, and its delivery."""
