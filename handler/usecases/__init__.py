"""What people do with the service, as plain functions over the services: no HTTP in them.

Each takes typed input, returns what it made and raises ``handler.refusals.Refused`` (or a store's own
exception, such as ``StorageUnavailable``) when it will not. The API and the command line call them.
"""
