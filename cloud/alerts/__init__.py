"""Alerts by e-mail to chosen staff: what went wrong at the stands, with the money or with the
data, once per incident and again when it clears (``aquastand-cloud check-alerts``)."""
