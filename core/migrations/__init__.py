"""Alembic's revisions of the SQL schema: env.py runs them, versions/ holds one file per change
(core/schema.py applies them; README "Migrations" says how to add one)."""
