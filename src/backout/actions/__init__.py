"""Recorded domain actions: each changes the world once and records who, when and why."""
