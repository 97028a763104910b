"""HTTP transport hardening: the request gate, per-route body limits, client addresses, head limits."""
