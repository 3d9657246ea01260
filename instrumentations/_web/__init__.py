"""What the web instrumentations share: reading JSON bodies into shapes and
sizes on contrib's HTTP spans, bounded and never in the request's way."""
