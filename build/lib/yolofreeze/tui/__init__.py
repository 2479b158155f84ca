"""The terminal front end: Textual app, screens, widgets and the command line."""
