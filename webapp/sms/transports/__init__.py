"""The ways an SMS leaves the building: Variante 1 (GSM modem) and Variante 2 (websms)."""
