"""Local emulators of the outside services Aquastand talks to, written from their published
API descriptions, for the tests and the demo (never for production)."""
