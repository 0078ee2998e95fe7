"""Outbound dialer: tiered reminder campaigns inside the contact rules."""
