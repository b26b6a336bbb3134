"""Treatment plans and letters of medical necessity (health information: clinical pages only)."""
