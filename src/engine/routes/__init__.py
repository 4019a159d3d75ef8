"""HTTP routes: parse, authorise through services, shape responses. No SQL here."""
