"""Telephony port (CallGateway), its Twilio adapter and the TwiML builder."""
