"""Rules shared by the stand and the central service.

Everything here must compute identically on both sides: money formatting and
parsing, car plate and phone normalisation, session pricing, and the signed
QR token format. This package imports neither ``cloud``, ``edge`` nor ``hardware``.
"""
