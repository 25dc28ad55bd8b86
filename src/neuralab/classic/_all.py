"""Imported by the estimator registry: loads every estimator module."""

from . import _register_all

_register_all()
