"""neuralab."""
