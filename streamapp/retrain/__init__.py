"""The reference retrainer: retrain requests + joined outcomes → a new, evaluated version."""
