"""Local servers that answer as outside providers document their APIs (SMS, payments, cash registers)."""
