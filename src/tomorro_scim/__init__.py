"""tomorro-scim."""
