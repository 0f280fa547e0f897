"""Files rendered from the tax documents and statements: UBL e-invoices, PDFs, SEPA payments.

Renderers take model objects and return bytes; they write nothing and know no HTTP.
"""
