"""Relata: lifecycle messaging on objects and relationships."""
