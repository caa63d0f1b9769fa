"""Badminton Group: members, groups, court sessions and bookings, over SQLite or PostgreSQL."""
