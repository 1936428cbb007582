"""SQLAlchemy storage: models, engine and migrations."""
