"""Carebook: booking and billing for therapeutic massage practices."""
