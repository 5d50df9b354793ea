"""Code the sandboxes share: JSON codec, persistence and write-through, the OAuth sandboxes' state, the
control API's shared routes, the app factory and webhook delivery."""
