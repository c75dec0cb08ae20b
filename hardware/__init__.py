"""Device interfaces of a stand and their backends, in gpiozero's manner.

``feedback`` (RGB LED and buzzer), ``nfc`` (card reader) and ``camera`` (QR codes) each hold one
small interface and the backends chosen in configuration. Nothing here knows the business: the
devices report identifiers and payloads and play patterns.
"""
