"""The on-call pages: /status, /status/<check>, a result, and /history."""
