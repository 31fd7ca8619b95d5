"""Django settings package: base (shared), development (embedded default), production, test."""
