"""Landmark Lens: recognise 50 famous landmarks in a photo (the Udacity / Google Landmarks v2 subset)."""
