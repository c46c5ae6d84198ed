"""The ground floor: settings, database tables and records, accounts, errors, model catalog,
scoring, logging. Imports nothing of gptu's other rooms."""
