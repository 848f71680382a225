"""The owner's side: the admin views, the owner's actions and alerts."""
