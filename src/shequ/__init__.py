"""Shequ (社区): open-source community smart-governance platform."""
