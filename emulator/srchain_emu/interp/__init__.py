"""Interpreter: the checked program compiled once into Python functions, plus the TNA runtime objects."""
