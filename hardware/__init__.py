"""Device interfaces of a stand (feedback light and buzzer, NFC reader, QR camera) and their backends."""
