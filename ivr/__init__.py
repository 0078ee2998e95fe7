"""Inbound IVR: verified self-service for cardholders who ring the hotline."""
