"""Operator extra links: buttons in the Airflow UI that open what a task worked on, outside Airflow."""
