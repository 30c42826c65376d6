"""The use cases without HTTP, and the mail, uploads and ticket systems they drive."""
