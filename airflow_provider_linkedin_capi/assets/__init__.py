"""Airflow assets for LinkedIn objects (registered under ``asset-uris`` in the provider info)."""
