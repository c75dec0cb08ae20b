"""The staff audit log: who changed money, access, prices or clients, when, from where, and
the values before and after (``service.record``); the owner's page and API read it."""
