"""The Qt shell: widgets and Qt models only. It calls lmdesk.core; core never calls it."""
