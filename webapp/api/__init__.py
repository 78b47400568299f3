"""The JSON API's rules apart from Flask (the views are in webapp/blueprints/api.py):

- `errors`: `ApiError` and its German and English message from the catalog;
- `fields`: the field kinds that check a request value and describe it in OpenAPI;
- `rules`: the tables of what each request may carry, and their parsers;
- `openapi`: the OpenAPI document, made from the same tables;
- `idempotency`: the stored first answer to a POST with an Idempotency-Key.
"""
