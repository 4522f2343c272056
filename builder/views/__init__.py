"""Function views, one module per area of the app; access helpers live in access.py."""
