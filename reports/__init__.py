"""Rendering of the KPI reports: HTML (Jinja2), charts (matplotlib), CSV/XLSX exports and PDF.

The figures come from services.reports / services.kpi; nothing here computes a KPI.
"""
