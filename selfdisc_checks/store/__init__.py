"""The candidate store: a SQLite cache shared by processes, ignorant of tasks."""
