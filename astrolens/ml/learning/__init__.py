"""Learning from the user's labels: re-ranking, "label next" acquisition, head fine-tuning,
and readers for labelled datasets (Galaxy10 DECaLS .h5, folder-per-class trees)."""
