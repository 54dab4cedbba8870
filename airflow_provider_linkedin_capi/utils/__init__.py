"""Small helpers shared by several Airflow roles (operators, the sensor, the push).

They read what Airflow's templating hands over (rendered ids, campaign lists). They import nothing from
``operators``, ``sensors``, ``transfers`` or ``triggers``, so any of those may use them.
"""
