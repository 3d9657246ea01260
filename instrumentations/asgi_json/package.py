_instruments = ("opentelemetry-instrumentation-asgi >= 0.50b0",)
