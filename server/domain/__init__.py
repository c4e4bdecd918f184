"""Features of the server, one package (or module) each: controllers, services, schemas."""
