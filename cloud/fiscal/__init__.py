"""Fiscal receipts (54-FZ): every money top-up, refund and (scheme "advance") session charge
owes a receipt, queued with its ledger entry (``outbox``) and sent to a cloud register
(``provider``: ATOL Online v5 in ``atol``) by ``aquastand-cloud send-receipts`` (``sender``)."""
