"""servicedesk-forms handler: validates service requests against the schema and stores them."""
