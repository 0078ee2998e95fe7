"""The local carrier: a Twilio-compatible voice simulator (filled by the simulator issue)."""
