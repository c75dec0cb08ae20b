"""Online top-ups through an acquirer: the ``PaymentProvider`` interface and its YooKassa
backend (``providers``, ``yookassa_provider``), the payments and their crediting exactly once
(``service``), refunds (``refunds``); the staff pages, the provider's notifications
(``webhook``) and the client's top-up pages and API (``cabinetpages``, ``clientapi``)."""
