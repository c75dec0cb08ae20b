"""Messages to clients outside e-mail: SMS (one-time log-in codes of the client cabinet)."""
