"""The HTTP door: app factory, request dependencies, error handlers, middleware, health, Prometheus."""
