"""Helpers of the hardening tests (faults, secrets, stress): shared inner pytest runs."""
