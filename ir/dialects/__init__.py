"""IR dialects, one module each: ``nn`` (float networks), ``learn`` (learning rules as data)."""
