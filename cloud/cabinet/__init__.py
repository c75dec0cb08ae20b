"""The client cabinet: clients log in with their phone and a one-time SMS code and see their
balance, points, washes and QR code (``/my/``, a PWA) or use the client API
(``/api/client/v1/``). Client sessions are apart from staff ones: neither reaches the other's
routes."""
