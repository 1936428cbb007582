"""The provider sandbox: a loopback server that speaks the providers' documented APIs.

``raccordo sandbox --port N`` (and the tests) run ``server.create_app``: every module of this
package that defines ``ROUTER`` is one provider (``whatsapp.py``: the WhatsApp Cloud API), mounted
as it is, so a provider is added as one module without touching the others. Each provider accepts
sends with the provider's authentication, payload validation and error codes, serves media, and
plays the customer: it calls the inbox's webhook signed like the provider, retries on non-2xx,
can duplicate a delivery, and reports statuses, optionally out of order. The sandbox imports
nothing of the product: it is the provider's side of the wire, written from the providers'
documentation, so a mismatch between the two shows up in the tests.
"""
